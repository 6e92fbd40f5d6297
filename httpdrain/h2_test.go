package httpdrain_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// h2Server is a server speaking HTTP/2 only, over TLS or unencrypted (h2c),
// with a Drainer, and a client for it that does not retry.
type h2Server struct {
	d       *httpdrain.Drainer
	url     string
	client  *http.Client
	trigger chan struct{}
	closed  chan struct{} // receives when the server closes a connection
}

func startH2(t *testing.T, h http.Handler, useTLS bool) *h2Server {
	t.Helper()
	s := &h2Server{trigger: make(chan struct{}), closed: make(chan struct{}, 100)}
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			s.closed <- struct{}{}
		}
	}
	d := httpdrain.New(ts.Config, lifecycle(s.trigger))
	s.d = d
	tr := &http.Transport{}
	if useTLS {
		ts.EnableHTTP2 = true
		ts.StartTLS()
		tr.TLSClientConfig = &tls.Config{RootCAs: ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
		tr.ForceAttemptHTTP2 = true
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP2(true)
	} else {
		ts.Config.Protocols = new(http.Protocols)
		ts.Config.Protocols.SetUnencryptedHTTP2(true)
		ts.Start()
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	s.url = ts.URL
	s.client = &http.Client{Transport: tr}
	t.Cleanup(func() {
		d.Drain(canceled())
		tr.CloseIdleConnections()
		ts.Close()
	})
	return s
}

// post sends a POST that the client cannot replay and returns the body.
func (s *h2Server) post(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	return s.postCtx(t, context.Background(), path)
}

// postCtx is post with a context for the request.
func (s *h2Server) postCtx(t *testing.T, ctx context.Context, path string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+path, strings.NewReader("body"))
	require.NoError(t, err)
	req.GetBody = nil // no replay
	resp, err := s.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, 2, resp.ProtoMajor)
	return resp, string(b)
}

func TestHTTP2(t *testing.T) {
	t.Parallel() // waits in real time
	for _, tt := range []struct {
		name string
		tls  bool
	}{{"h2", true}, {"h2c", false}} {
		// Over TLS the one GOAWAY comes at the drain; h2c, which the
		// drain cannot tell from idle HTTP/1, gets it at the trigger.
		name := "GOAWAY at the drain, not the trigger"
		if !tt.tls {
			name = "GOAWAY at the trigger"
		}
		t.Run(tt.name+"/"+name, func(t *testing.T) {
			s := startH2(t, http.HandlerFunc(echo), tt.tls)
			_, body := s.post(t, "/")
			assert.Equal(t, "body", body)
			close(s.trigger)
			waitClosed(t, httpdrain.LameDuckStarted(s.d), "lame duck")
			for i := range 2 {
				var reused bool
				ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
					GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
				})
				resp, body := s.postCtx(t, ctx, "/")
				assert.Equal(t, "body", body)
				assert.Empty(t, resp.Header.Get("Connection"), "no connection header in HTTP/2")
				if tt.tls || i == 0 {
					assert.True(t, reused, "no GOAWAY before this request: the connection stays")
				} else {
					assert.False(t, reused, "the GOAWAY in the lame-duck phase moved the client to a new connection")
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			require.NoError(t, s.d.Drain(ctx))
			waitClosed(t, s.closed, "the drain's GOAWAY closes the connection")
		})
		t.Run(tt.name+"/drain completes in-flight streams", func(t *testing.T) {
			g := newGate()
			s := startH2(t, g, tt.tls)
			done := make(chan string, 1)
			go func() {
				_, body := s.post(t, "/")
				done <- body
			}()
			waitClosed(t, g.entered, "request in handler")
			errc := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				errc <- s.d.Drain(ctx)
			}()
			waitRefused(t, strings.TrimPrefix(strings.TrimPrefix(s.url, "https://"), "http://"))
			close(g.release)
			select {
			case body := <-done:
				assert.Equal(t, "done", body)
			case <-time.After(waitLimit):
				t.Fatal("no response")
			}
			require.NoError(t, waitErr(t, errc))
		})
	}
}
