// Package controller holds the Widget reconciler of the example controller,
// with switches that reproduce real controller pathologies under load.
package controller

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	scalev1 "profkit.dev/examples/go-controller/api/v1alpha1"
)

// Finalizer is added to every Widget and removed when it is deleted.
const Finalizer = "scale.profkit.dev/cleanup"

// ErrInjected is returned by the share of reconciles selected by ErrorRate.
var ErrInjected = errors.New("injected reconcile error (--error-rate)")

// Options are the behaviour switches of the reconciler.
type Options struct {
	// KeygenPerReconcile generates this many RSA 2048 keys per reconcile (KCP before its fix).
	KeygenPerReconcile int
	// RequeueDeleted requeues objects that are gone or being deleted, forever (BMO before its fix).
	RequeueDeleted bool
	// ErrorRate is the fraction of reconciles that return an error.
	ErrorRate float64
	// ReconcileDelay is slept in every reconcile (makes workers saturate).
	ReconcileDelay time.Duration
	// APICallsPerReconcile extra GETs through the uncached API reader (shows client-side throttling).
	APICallsPerReconcile int
	// MaxConcurrentReconciles is the number of workers.
	MaxConcurrentReconciles int
	// UsePriorityQueue selects controller-runtime's priority queue (its default) or the classic workqueue.
	UsePriorityQueue bool
}

// WidgetReconciler reconciles Widgets.
type WidgetReconciler struct {
	client.Client
	// APIReader reads straight from the API server, bypassing the cache.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Options
}

// Reconcile adds the finalizer, marks the Widget ready and removes the
// finalizer on deletion.
func (r *WidgetReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)

	if r.ReconcileDelay > 0 {
		select {
		case <-time.After(r.ReconcileDelay):
		case <-ctx.Done():
			return ctrl.Result{}, ctx.Err()
		}
	}

	widget := &scalev1.Widget{}
	if err := r.Get(ctx, req.NamespacedName, widget); err != nil {
		if apierrors.IsNotFound(err) {
			if r.RequeueDeleted {
				// The pre-fix Bare Metal Operator behaviour: requeue on any Get error,
				// NotFound included, so objects long gone come back forever.
				log.Info("could not get widget, not running reconciler", "widget", req.NamespacedName.String())
				return ctrl.Result{Requeue: true, RequeueAfter: 2 * time.Second}, nil //nolint:staticcheck // Requeue reproduces the real bug
			}
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}

	if err := r.extraAPICalls(ctx, req); err != nil {
		return ctrl.Result{}, err
	}

	for i := 0; i < r.KeygenPerReconcile; i++ {
		if _, err := r.getWorkloadClusterClient(ctx, widget); err != nil {
			return ctrl.Result{}, err
		}
	}

	if r.ErrorRate > 0 && rand.Float64() < r.ErrorRate {
		return ctrl.Result{}, ErrInjected
	}

	if !widget.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, req, widget)
	}

	if !controllerutil.ContainsFinalizer(widget, Finalizer) {
		controllerutil.AddFinalizer(widget, Finalizer)
		if err := r.Update(ctx, widget); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}

	if widget.Status.Ready && widget.Status.Phase == "Ready" && widget.Status.ObservedGeneration == widget.Generation {
		return ctrl.Result{}, nil
	}
	base := widget.DeepCopy()
	widget.Status.Ready = true
	widget.Status.Phase = "Ready"
	widget.Status.ObservedGeneration = widget.Generation
	if err := r.Status().Patch(ctx, widget, client.MergeFrom(base)); err != nil {
		return ctrl.Result{}, fmt.Errorf("patching status: %w", err)
	}
	log.Info("widget is ready", "generation", widget.Generation, "size", widget.Spec.Size)
	if r.Recorder != nil {
		r.Recorder.Eventf(widget, nil, corev1.EventTypeNormal, "Ready", "Reconcile", "widget of size %d is ready", widget.Spec.Size)
	}
	return ctrl.Result{}, nil
}

func (r *WidgetReconciler) reconcileDelete(ctx context.Context, req ctrl.Request, widget *scalev1.Widget) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	if controllerutil.ContainsFinalizer(widget, Finalizer) {
		base := widget.DeepCopy()
		if base.Status.Phase != "Deleting" {
			widget.Status.Phase = "Deleting"
			widget.Status.Ready = false
			if err := r.Status().Patch(ctx, widget, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, fmt.Errorf("patching status: %w", err)
			}
		}
		controllerutil.RemoveFinalizer(widget, Finalizer)
		if err := r.Update(ctx, widget); err != nil {
			if apierrors.IsNotFound(err) {
				return ctrl.Result{}, nil
			}
			return ctrl.Result{}, fmt.Errorf("removing finalizer: %w", err)
		}
		log.Info("removed finalizer from deleted widget")
		return ctrl.Result{}, nil
	}
	// Being deleted and our finalizer is gone (other finalizers keep it alive).
	if r.RequeueDeleted {
		log.Info("could not get widget, not running reconciler", "widget", req.NamespacedName.String())
		return ctrl.Result{Requeue: true, RequeueAfter: 2 * time.Second}, nil //nolint:staticcheck // Requeue reproduces the real bug
	}
	return ctrl.Result{}, nil
}

// extraAPICalls makes APICallsPerReconcile uncached GETs so that a low
// --kube-api-qps shows client-side throttling.
func (r *WidgetReconciler) extraAPICalls(ctx context.Context, req ctrl.Request) error {
	for i := 0; i < r.APICallsPerReconcile; i++ {
		live := &scalev1.Widget{}
		if err := r.APIReader.Get(ctx, req.NamespacedName, live); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("reading widget from the API server: %w", err)
		}
	}
	return nil
}

// SetupWithManager registers the reconciler as controller "widget".
func (r *WidgetReconciler) SetupWithManager(mgr ctrl.Manager) error {
	usePQ := r.UsePriorityQueue
	return ctrl.NewControllerManagedBy(mgr).
		For(&scalev1.Widget{}).
		Named("widget").
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.MaxConcurrentReconciles,
			UsePriorityQueue:        &usePQ,
		}).
		Complete(r)
}
