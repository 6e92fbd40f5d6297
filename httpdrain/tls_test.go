package httpdrain_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testCert is a self-signed certificate for 127.0.0.1, made once per test
// binary, and a pool that trusts it.
var testCert = sync.OnceValues(func() (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "httpdrain test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
})

// startTLSBackend serves h over TLS (HTTP/1.1 and HTTP/2 by ALPN) on
// 127.0.0.1:0 through a Drainer, like startBackend.
func startTLSBackend(t testing.TB, h http.Handler) *backend {
	t.Helper()
	return serveTLSWith(t, &http.Server{Handler: h})
}

// serveTLSWith serves srv like startTLSBackend.
func serveTLSWith(t testing.TB, srv *http.Server, opts ...httpdrain.Option) *backend {
	t.Helper()
	cert, _ := testCert()
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	// Dials that only probe the listener end with a handshake error.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	return serveWithFunc(t, srv, func(ln net.Listener) error { return srv.ServeTLS(ln, "", "") }, opts...)
}

// tlsTransport returns a transport that trusts the test certificate, speaks
// only proto ("h2" or "http/1.1") and never reuses a connection's failure
// for another attempt: requests it is given have no GetBody.
func tlsTransport(proto string) *http.Transport {
	_, pool := testCert()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Protocols: new(http.Protocols)}
	if proto == "h2" {
		tr.Protocols.SetHTTP2(true)
	} else {
		tr.Protocols.SetHTTP1(true)
	}
	return tr
}

// pausingConn is a client's TCP connection that, on its write number
// pauseAt (from 1), sends only the first half of the bytes, reports it on
// paused, and waits for resume before sending the rest: a TLS handshake
// that stalls mid-flight, as over a slow or lossy network.
type pausingConn struct {
	net.Conn
	pauseAt int
	writes  int
	paused  chan struct{}
	resume  chan struct{}
}

func (c *pausingConn) Write(b []byte) (int, error) {
	c.writes++
	if c.writes != c.pauseAt || len(b) < 2 {
		return c.Conn.Write(b)
	}
	n, err := c.Conn.Write(b[:len(b)/2])
	if err != nil {
		return n, err
	}
	close(c.paused)
	<-c.resume
	m, err := c.Conn.Write(b[len(b)/2:])
	return n + m, err
}

// TestDrainServesTLSHandshakeInProgress starts the drain while a client's
// TLS handshake is under way (paused in its ClientHello, or before its
// Finished), then lets the handshake complete: the client's request must be
// served, over HTTP/1.1 and HTTP/2.
func TestDrainServesTLSHandshakeInProgress(t *testing.T) {
	for _, proto := range []string{"http/1.1", "h2"} {
		for _, pause := range []struct {
			name string
			at   int
		}{{"in ClientHello", 1}, {"before Finished", 2}} {
			t.Run(proto+"/"+pause.name, func(t *testing.T) {
				t.Parallel() // the HTTP/2 server holds a connection 1s after its GOAWAY
				accepted := make(chan struct{}, 10)
				b := serveTLSWith(t, &http.Server{
					Handler: http.HandlerFunc(echo),
					ConnState: func(_ net.Conn, s http.ConnState) {
						if s == http.StateNew {
							accepted <- struct{}{}
						}
					},
				})
				pc := &pausingConn{pauseAt: pause.at, paused: make(chan struct{}), resume: make(chan struct{})}
				tr := tlsTransport(proto)
				tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					pc.Conn = c
					return pc, nil
				}
				defer tr.CloseIdleConnections()
				type result struct {
					resp *http.Response
					body string
					err  error
				}
				done := make(chan result, 1)
				go func() {
					resp, body, err := postOnce(&http.Client{Transport: tr}, "https://"+b.addr+"/", "hello")
					done <- result{resp, body, err}
				}()
				waitClosed(t, pc.paused, "handshake paused")
				waitClosed(t, accepted, "connection accepted")
				errc := b.drainAsync(waitLimit)
				waitClosed(t, b.d.DrainStarted(), "drain started")
				// net/http drops a request read after Shutdown starts:
				// the drain waits for the handshake before it shuts down,
				// its header grace at most, but refuses new connections
				// from its start.
				assert.True(t, dialRefused(b.addr), "the listener must refuse connections from the drain start")
				close(pc.resume)
				var r result
				select {
				case r = <-done:
				case <-time.After(waitLimit):
					t.Fatal("no response")
				}
				require.NoError(t, r.err, "request whose handshake was under way at the drain")
				assert.Equal(t, http.StatusOK, r.resp.StatusCode)
				assert.Equal(t, "hello", r.body)
				assert.Equal(t, proto == "h2", r.resp.ProtoMajor == 2, "protocol %s", r.resp.Proto)
				require.NoError(t, waitErr(t, errc))
			})
		}
	}
}

// postOnce sends a POST the client cannot replay and returns the response
// with its body read.
func postOnce(client *http.Client, url, body string) (*http.Response, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, io.NopCloser(strings.NewReader(body)))
	if err != nil {
		return nil, "", err
	}
	req.GetBody = nil // no replay on another connection
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	return resp, string(got), err
}

// TestRollingRestartUnderTLSLoad is TestRollingRestartUnderLoad over TLS,
// with HTTP/1.1 and with HTTP/2. Over HTTP/1.1, every response after the
// trigger asks the client to reconnect, so handshakes are under way at
// every moment of the delay and the drain.
func TestRollingRestartUnderTLSLoad(t *testing.T) {
	t.Parallel() // real time: waits on the load, not on the CPU
	const (
		conns     = 4
		total     = 800
		interval  = time.Millisecond
		triggerAt = 200                    // requests: 200 ms into the load
		lag       = 150 * time.Millisecond // the load balancer's
		delay     = 300 * time.Millisecond // the propagation delay, > lag
	)
	for _, proto := range []string{"http/1.1", "h2"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel() // the HTTP/2 server holds a connection 1s after its GOAWAY
			a := startTLSBackend(t, http.HandlerFunc(work))
			b := startTLSBackend(t, http.HandlerFunc(work))
			p := startProxy(t, lag, a.addr, b.addr)
			drained := make(chan error, 1)
			tr := tlsTransport(proto)
			tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost = conns, conns
			res := openLoop(t, tr, "https://"+p.Addr()+"/work", total, interval, func(i int) {
				if i != triggerAt {
					return
				}
				p.SetReady(a.addr, false)
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					close(a.trigger)
					time.Sleep(delay) // the propagation delay the sequence waits
					drained <- a.d.Drain(ctx)
				}()
			})
			require.NoError(t, waitErr(t, drained))
			t.Logf("%v, e.g. %v", res, res.First())
			assert.Equal(t, total, res.Sent)
			if proto == "http/1.1" {
				assert.Zero(t, res.Failed(), "failed requests")
				return
			}
			// net/http's single GOAWAY at the drain refuses, unprocessed,
			// the streams the client opened as it was sent (see the
			// package doc); this client does not resend them. Go's
			// client reports such a stream in one of two ways, by where
			// in its retry path the GOAWAY finds it: h2_bundle.go,
			// RoundTripOpt ("cannot retry err [...GOAWAY]"), or
			// transport.go, roundTrip, where the pool has no connection
			// left for it (errCannotRewind). Nothing else may fail.
			for _, f := range res.First() {
				assert.Regexp(t, `graceful shutdown GOAWAY|cannot rewind body after connection loss`, f.Err.Error(), "only refused streams fail")
			}
		})
	}
}

// TestDrainClosesTLSConnAfterHandshake drains while a client has completed
// its TLS handshake and sent nothing since: the drain closes the connection
// at once, rather than wait for a request, or for net/http to close a
// connection in StateNew after 5s (golang/go#22682).
func TestDrainClosesTLSConnAfterHandshake(t *testing.T) {
	t.Parallel() // waits in real time
	for _, proto := range []string{"http/1.1", "h2"} {
		t.Run(proto, func(t *testing.T) {
			b := startTLSBackend(t, http.HandlerFunc(echo))
			_, pool := testCert()
			c, err := tls.Dial("tcp", b.addr, &tls.Config{RootCAs: pool, NextProtos: []string{proto}})
			require.NoError(t, err)
			defer c.Close()
			require.Equal(t, proto, c.ConnectionState().NegotiatedProtocol)
			// Read what the server sent after the handshake (its session
			// tickets; for HTTP/2 its SETTINGS too), as a client would.
			require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
			_, err = io.Copy(io.Discard, c)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)

			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second) // < 5s
			defer cancel()
			require.NoError(t, b.d.Drain(ctx), "the drain closes the connection")
			require.NoError(t, c.SetReadDeadline(time.Now().Add(waitLimit)))
			_, err = c.Read(make([]byte, 1))
			assert.Error(t, err, "the connection is closed")
		})
	}
}
