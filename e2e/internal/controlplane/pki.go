package controlplane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/lameduck/lameduck/e2e/internal/netlab"
)

// pki is the control plane's key material: a CA, the API server's serving
// certificate, the service account signing key and a bearer token per
// client. It is made fresh for each rig and lives in its directory.
type pki struct {
	caCert, apiCert, apiKey, saKey, saPub, tokens string // file paths
	caPEM                                         []byte
	adminToken, kubeletToken, kcmToken            string
}

func makePKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	p := &pki{
		caCert: filepath.Join(dir, "ca.crt"), apiCert: filepath.Join(dir, "apiserver.crt"),
		apiKey: filepath.Join(dir, "apiserver.key"), saKey: filepath.Join(dir, "sa.key"),
		saPub: filepath.Join(dir, "sa.pub"), tokens: filepath.Join(dir, "tokens.csv"),
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lameduck-e2e-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("controlplane: ca: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("controlplane: ca: %w", err)
	}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	apiKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	apiTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 96, 0, 1), net.IP(netlab.Gateway.AsSlice())},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}
	apiDER, err := x509.CreateCertificate(rand.Reader, apiTmpl, ca, &apiKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("controlplane: apiserver certificate: %w", err)
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	apiKeyDER, err := x509.MarshalPKCS8PrivateKey(apiKey)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	saKeyDER, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	p.adminToken, p.kubeletToken, p.kcmToken = token(), token(), token()
	// token,user,uid,"groups": every component is a master (the API server
	// authorizes all anyway); the kubelets and kube-proxies share a token.
	tokens := fmt.Sprintf("%s,admin,admin,\"system:masters\"\n%s,kubelet,kubelet,\"system:masters\"\n%s,system:kube-controller-manager,kcm,\"system:masters\"\n",
		p.adminToken, p.kubeletToken, p.kcmToken)
	for _, f := range []struct {
		path string
		data []byte
	}{
		{p.caCert, p.caPEM},
		{p.apiCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: apiDER})},
		{p.apiKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: apiKeyDER})},
		{p.saKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: saKeyDER})},
		{p.saPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER})},
		{p.tokens, []byte(tokens)},
	} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return nil, fmt.Errorf("controlplane: %w", err)
		}
	}
	return p, nil
}

func token() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// kubeconfig writes a kubeconfig for the API server at server that
// authenticates with tok.
func (p *pki) kubeconfig(path, server, user, tok string) error {
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: %q, certificate-authority: %q}
users:
- name: %s
  user: {token: %q}
contexts:
- name: local
  context: {cluster: local, user: %s, namespace: default}
current-context: local
`, server, p.caCert, user, tok, user)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	return nil
}
