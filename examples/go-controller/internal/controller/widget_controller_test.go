package controller

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	scalev1 "profkit.dev/examples/go-controller/api/v1alpha1"
)

func newReconciler(t *testing.T, opts Options, objs ...client.Object) (*WidgetReconciler, client.Client) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := scalev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(&scalev1.Widget{}).Build()
	return &WidgetReconciler{Client: c, APIReader: c, Options: opts}, c
}

func request(name string) ctrl.Request {
	return ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: name}}
}

func TestReconcileMakesWidgetReady(t *testing.T) {
	w := &scalev1.Widget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", Generation: 3}, Spec: scalev1.WidgetSpec{Size: 2}}
	r, c := newReconciler(t, Options{APICallsPerReconcile: 2, KeygenPerReconcile: 1}, w)
	res, err := r.Reconcile(context.Background(), request("a"))
	if err != nil || res != (ctrl.Result{}) {
		t.Fatalf("Reconcile = %+v, %v", res, err)
	}
	got := &scalev1.Widget{}
	if err := c.Get(context.Background(), request("a").NamespacedName, got); err != nil {
		t.Fatal(err)
	}
	if len(got.Finalizers) != 1 || got.Finalizers[0] != Finalizer {
		t.Errorf("finalizers = %v", got.Finalizers)
	}
	if !got.Status.Ready || got.Status.Phase != "Ready" || got.Status.ObservedGeneration != got.Generation {
		t.Errorf("status = %+v (generation %d)", got.Status, got.Generation)
	}
}

func TestNotFound(t *testing.T) {
	r, _ := newReconciler(t, Options{})
	if res, err := r.Reconcile(context.Background(), request("gone")); err != nil || res != (ctrl.Result{}) {
		t.Fatalf("without --requeue-deleted: %+v, %v", res, err)
	}
	r.RequeueDeleted = true
	res, err := r.Reconcile(context.Background(), request("gone"))
	if err != nil || res.RequeueAfter != 2*time.Second || !res.Requeue { //nolint:staticcheck
		t.Fatalf("with --requeue-deleted: %+v, %v", res, err)
	}
}

func TestDeletionRemovesFinalizer(t *testing.T) {
	now := metav1.Now()
	w := &scalev1.Widget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "d", Finalizers: []string{Finalizer}, DeletionTimestamp: &now}}
	r, c := newReconciler(t, Options{}, w)
	if _, err := r.Reconcile(context.Background(), request("d")); err != nil {
		t.Fatal(err)
	}
	err := c.Get(context.Background(), request("d").NamespacedName, &scalev1.Widget{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("widget still there after its finalizer was removed: %v", err)
	}
}

func TestErrorRate(t *testing.T) {
	w := &scalev1.Widget{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "e"}}
	r, _ := newReconciler(t, Options{ErrorRate: 1}, w)
	if _, err := r.Reconcile(context.Background(), request("e")); err != ErrInjected {
		t.Fatalf("err = %v, want ErrInjected", err)
	}
}

func TestKeygenChain(t *testing.T) {
	certPEM, keyPEM, err := generateClientCert("ns/x")
	if err != nil || len(certPEM) == 0 || len(keyPEM) == 0 {
		t.Fatalf("generateClientCert: %v", err)
	}
}
