package load

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
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
	res := Run(context.Background(), 100, 5, 5*time.Second, h.Send)
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
	res := Run(context.Background(), 200, 20, 5*time.Second, h.Send)
	assert.Equal(t, 20, res.OK, "%v", res)

	bad := NewHTTP(ln.Addr().String(), 2*time.Millisecond, 0, nil)
	defer bad.Close()
	res = Run(context.Background(), 200, 3, 5*time.Second, bad.Send)
	assert.Equal(t, 3, res.Failed(), "%v", res)
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

func TestRunStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res := Run(ctx, 50, 1000, time.Second, func(context.Context) error { return nil })
	assert.Less(t, res.Sent, 1000)
	assert.Equal(t, res.Sent, res.OK)
}
