package load

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/internal/loadtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestHTTPDoesNotRetry: a server that reads a request and closes the
// connection without answering must cost a failure, never a silent resend
// on a new connection.
func TestHTTPDoesNotRetry(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var requests atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				requests.Add(1)
			}
			c.Close()
		}
	}()
	h := NewHTTP(ln.Addr().String(), 0, 1, nil)
	res := run(t, 5, h.Send)
	h.Close()
	ln.Close()
	<-done
	assert.Equal(t, 5, res.Sent)
	assert.Zero(t, res.OK)
	assert.Equal(t, 5, res.Failed())
	assert.Equal(t, int64(5), requests.Load(), "each request sent once")
}

func TestHTTPCountsNon200(t *testing.T) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("d") != "1ms" {
			http.Error(w, "bad d", http.StatusBadRequest)
			return
		}
		if r.Method != http.MethodPost {
			http.Error(w, "bad method", http.StatusMethodNotAllowed)
			return
		}
		w.Write([]byte("ok id=1\n"))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	defer srv.Close()
	h := NewHTTP(ln.Addr().String(), time.Millisecond, 2, nil)
	defer h.Close()
	res := run(t, 20, h.Send)
	assert.Equal(t, 20, res.OK, "%v", res)

	bad := NewHTTP(ln.Addr().String(), 2*time.Millisecond, 0, nil)
	defer bad.Close()
	res = run(t, 3, bad.Send)
	assert.Equal(t, 3, res.Failed(), "%v", res)
	assert.Equal(t, map[string]int{"400": 3}, res.Failures)
	conns := bad.Conns()
	require.Len(t, conns, 3, "without keep-alive, a connection per request")
	ports := map[uint16]bool{}
	for _, c := range conns {
		assert.True(t, c.Local.Addr().IsLoopback(), "local address %v", c.Local)
		ports[c.Local.Port()] = true
	}
	assert.Len(t, ports, 3, "three local ports")
	assert.LessOrEqual(t, len(h.Conns()), 2, "keep-alive: at most its 2 connections")
}

func TestHTTPWantsOK(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("nope\n"))
	}))
	defer srv.Close()
	h := NewHTTP(srv.Listener.Addr().String(), 0, 1, nil)
	defer h.Close()
	res := run(t, 2, h.Send)
	assert.Equal(t, map[string]int{"not ok": 2}, res.Failures)
	assert.Equal(t, `status 200 with body "nope"`, res.Example("not ok"))
}

// run sends n requests at 200/s with send.
func run(t *testing.T, n int, send func(context.Context) error) *loadtest.Result {
	t.Helper()
	res, err := loadtest.Run(context.Background(), loadtest.Config{Rate: 200, Max: n, Timeout: 5 * time.Second}, send)
	require.NoError(t, err)
	return res
}
