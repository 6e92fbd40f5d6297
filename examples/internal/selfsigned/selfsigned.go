// Package selfsigned writes a self-signed certificate for loopback, so that
// the tests and the rollout demo of the lameduck examples can run the
// services over TLS without a certificate authority or files checked in.
// It is not for production: the key is an ECDSA P-256 key written
// unencrypted, and the certificate is valid for a day.
package selfsigned

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Cert is a certificate written by [Write].
type Cert struct {
	CertFile string         // PEM certificate, for -tls-cert
	KeyFile  string         // PEM PKCS #8 private key, for -tls-key
	Pool     *x509.CertPool // holds the certificate, for clients to trust it
}

// ClientConfig returns a TLS client configuration that trusts only c and
// offers the ALPN protocols nextProtos (nil: none).
func (c Cert) ClientConfig(nextProtos ...string) *tls.Config {
	return &tls.Config{RootCAs: c.Pool, NextProtos: nextProtos, MinVersion: tls.VersionTLS12}
}

// Write creates a key and a self-signed certificate for "localhost",
// 127.0.0.1 and ::1 and writes them as cert.pem and key.pem (mode 0600)
// into dir, which must exist.
func Write(dir string) (Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Cert{}, fmt.Errorf("selfsigned: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return Cert{}, fmt.Errorf("selfsigned: serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "lameduck example"},
		NotBefore:             now.Add(-time.Hour), // tolerate clock skew between processes
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // its own issuer: a client trusts it as a root
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return Cert{}, fmt.Errorf("selfsigned: certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return Cert{}, fmt.Errorf("selfsigned: certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Cert{}, fmt.Errorf("selfsigned: key: %w", err)
	}
	c := Cert{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), Pool: x509.NewCertPool()}
	c.Pool.AddCert(leaf)
	if err := os.WriteFile(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return Cert{}, fmt.Errorf("selfsigned: %w", err)
	}
	if err := os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		return Cert{}, fmt.Errorf("selfsigned: %w", err)
	}
	return c, nil
}
