package controller

// This file imitates Cluster API's kubeadm control plane (KCP) code path before
// its fix (cluster-api issue 8602, PR 8617): every call that reached a workload
// cluster generated a fresh RSA 2048 private key and a client certificate, and
// one reconcile made several such calls. In a CPU profile the time shows as
// crypto/rsa.GenerateKey -> crypto/rand.Prime -> math/big under the chain
// (*WidgetReconciler).Reconcile -> getWorkloadClusterClient ->
// generateClientCert -> newPrivateKey.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	scalev1 "profkit.dev/examples/go-controller/api/v1alpha1"
)

// clusterCA is the (fake) workload cluster CA that signs client certificates.
// It is generated once per process, as KCP reads it once from a Secret.
type clusterCA struct {
	once sync.Once
	key  *rsa.PrivateKey
	cert *x509.Certificate
	err  error
}

var workloadCA clusterCA

func (ca *clusterCA) load() (*x509.Certificate, *rsa.PrivateKey, error) {
	ca.once.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			ca.err = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "widget-workload-ca"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			IsCA:                  true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			ca.err = err
			return
		}
		ca.cert, ca.err = x509.ParseCertificate(der)
		ca.key = key
	})
	return ca.cert, ca.key, ca.err
}

// getWorkloadClusterClient builds a client config for the Widget's "workload
// cluster", authenticating with a freshly generated client certificate (the
// pre-fix KCP behaviour). The config is not used to connect anywhere.
//
//go:noinline
func (r *WidgetReconciler) getWorkloadClusterClient(ctx context.Context, w *scalev1.Widget) (*rest.Config, error) {
	_ = ctx
	certPEM, keyPEM, err := generateClientCert(fmt.Sprintf("%s/%s", w.Namespace, w.Name))
	if err != nil {
		return nil, fmt.Errorf("generating client certificate for widget %s/%s: %w", w.Namespace, w.Name, err)
	}
	return &rest.Config{
		Host: fmt.Sprintf("https://%s.%s.workload.invalid:6443", w.Name, w.Namespace),
		TLSClientConfig: rest.TLSClientConfig{
			CertData: certPEM,
			KeyData:  keyPEM,
		},
	}, nil
}

// generateClientCert creates a new private key and a client certificate signed
// by the workload cluster CA.
//
//go:noinline
func generateClientCert(commonName string) (certPEM, keyPEM []byte, err error) {
	caCert, caKey, err := workloadCA.load()
	if err != nil {
		return nil, nil, err
	}
	key, err := newPrivateKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"system:masters"}},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return certPEM, keyPEM, nil
}

// newPrivateKey mirrors cluster-api's util/certs.NewPrivateKey.
//
//go:noinline
func newPrivateKey() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
}
