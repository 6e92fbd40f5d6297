package httpdrain_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewPanicsOnProgrammerErrors(t *testing.T) {
	tests := []struct {
		name string
		call func()
		want string
	}{
		{"nil server", func() { httpdrain.New(nil, make(lifecycle)) }, "httpdrain: New: nil *http.Server: pass the server to drain"},
		{"nil lifecycle", func() { httpdrain.New(&http.Server{}, nil) }, "httpdrain: New: nil Lifecycle: pass the shutdown sequence (*shutdown.Sequence)"},
		{"nil logger", func() { httpdrain.WithLogger(nil) }, "httpdrain: WithLogger(nil): pass a logger, or omit the option for slog.Default()"},
		{"nil exempt func", func() { httpdrain.WithExemptFunc(nil) }, "httpdrain: WithExemptFunc(nil): pass a function that reports exempt requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.PanicsWithValue(t, tt.want, tt.call)
		})
	}
}

func TestNewKeepsConnStateHook(t *testing.T) {
	states := make(chan http.ConnState, 10)
	srv := &http.Server{Handler: http.HandlerFunc(echo), ConnState: func(_ net.Conn, s http.ConnState) { states <- s }}
	d := httpdrain.New(srv, make(lifecycle))
	defer d.Drain(canceled())
	c, peer := net.Pipe()
	defer peer.Close()
	srv.ConnState(c, http.StateNew)
	srv.ConnState(c, http.StateClosed)
	c.Close()
	assert.Equal(t, http.StateNew, <-states)
	assert.Equal(t, http.StateClosed, <-states)
}

func TestTriggerAddsConnectionClose(t *testing.T) {
	b := startBackend(t, http.HandlerFunc(echo))
	c := dialRaw(t, b.addr)

	resp, body, err := c.roundTrip("/", "before")
	require.NoError(t, err)
	assert.Equal(t, "before", body)
	assert.False(t, resp.Close, "no Connection: close before the trigger")

	close(b.trigger)
	waitClosed(t, httpdrain.LameDuckStarted(b.d), "lame duck")
	resp, body, err = c.roundTrip("/", "after")
	require.NoError(t, err)
	assert.Equal(t, "after", body)
	assert.True(t, resp.Close, "Connection: close after the trigger")
	c.waitEOF(t)

	// New connections are still served during the propagation delay.
	c2 := dialRaw(t, b.addr)
	resp, body, err = c2.roundTrip("/", "new")
	require.NoError(t, err)
	assert.Equal(t, "new", body)
	assert.True(t, resp.Close)
}

func TestDrainLetsInFlightRequestsFinish(t *testing.T) {
	g := newGate()
	b := startBackend(t, g)
	close(b.trigger)
	c := dialRaw(t, b.addr)
	_, err := io.WriteString(c, postHead("/", "body")+"body")
	require.NoError(t, err)
	waitClosed(t, g.entered, "request in handler")
	assert.EqualValues(t, 1, b.d.InFlight())

	errc := b.drainAsync(waitLimit)
	waitClosed(t, b.d.DrainStarted(), "draining")
	waitRefused(t, b.addr)
	close(g.release)

	resp, body, err := c.read()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "done", body)
	require.NoError(t, waitErr(t, errc))
	assert.Zero(t, b.d.InFlight())
	assert.NoError(t, b.d.Drain(context.Background()), "a second call returns the first result")
}

// TestDrainSparesHalfSentRequest: net/http's Shutdown keeps a keep-alive
// connection "idle" until a whole request header is read, and closes it.
func TestDrainSparesHalfSentRequest(t *testing.T) {
	b := startBackend(t, http.HandlerFunc(echo))
	idle, half := dialRaw(t, b.addr), dialRaw(t, b.addr)
	for _, c := range []*rawConn{idle, half} {
		_, _, err := c.roundTrip("/", "first")
		require.NoError(t, err)
	}
	// The client sends its next request a little after the response
	// (longer than a kernel jiffy), in two parts.
	time.Sleep(20 * time.Millisecond)
	head := postHead("/", "second")
	_, err := io.WriteString(half, head[:20])
	require.NoError(t, err)

	errc := b.drainAsync(waitLimit)
	idle.waitEOF(t) // the drain has looked at the connections
	_, err = io.WriteString(half, head[20:]+"second")
	require.NoError(t, err)
	resp, body, err := half.read()
	require.NoError(t, err, "the half-sent request must be answered")
	assert.Equal(t, "second", body)
	assert.True(t, resp.Close)
	require.NoError(t, waitErr(t, errc))
}

// TestDrainClosesNeverUsedConns: a connection that never sends a request
// stalls Shutdown for ~5s (golang/go#22682); the budget here is shorter.
func TestDrainClosesNeverUsedConns(t *testing.T) {
	b := startBackend(t, http.HandlerFunc(echo))
	conns := make([]*rawConn, 10)
	for i := range conns {
		conns[i] = dialRaw(t, b.addr)
	}
	// Make sure the server accepted them all: a request on a later one.
	_, _, err := dialRaw(t, b.addr).roundTrip("/", "x")
	require.NoError(t, err)

	require.NoError(t, waitErr(t, b.drainAsync(4*time.Second)))
	for _, c := range conns {
		c.waitEOF(t)
	}
}

func TestDrainWaitsForOnShutdownFuncs(t *testing.T) {
	b := startBackend(t, http.HandlerFunc(echo))
	var finished atomic.Bool
	release := make(chan struct{})
	b.d.RegisterOnShutdown(func() {
		<-release
		finished.Store(true)
	})
	errc := b.drainAsync(waitLimit)
	waitRefused(t, b.addr) // Shutdown has started the function
	close(release)
	require.NoError(t, waitErr(t, errc))
	assert.True(t, finished.Load(), "Drain returned before the function")
}

func TestDrainReturnsAtDeadlineDespiteHandlerIgnoringContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		defer close(g.release)
		b := startPipeBackend(t, g)
		c := b.dialRaw(t)
		_, err := io.WriteString(c, postHead("/", "x")+"x")
		require.NoError(t, err)
		<-g.entered

		const budget = 200 * time.Millisecond
		start := time.Now()
		err = <-b.drainAsync(budget)
		assert.Equal(t, budget, time.Since(start), "the drain returns at its deadline")
		require.ErrorIs(t, err, httpdrain.ErrForced)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "1 requests in flight")
		c.waitEOF(t)
	})
}

func TestRejectWhileDraining(t *testing.T) {
	g := newGate()
	mux := http.NewServeMux()
	mux.Handle("/slow", g)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "draining") })
	mux.HandleFunc("/", echo)
	b := startBackend(t, mux, httpdrain.WithRejectWhileDraining(1500*time.Millisecond))
	slow := dialRaw(t, b.addr)
	_, err := io.WriteString(slow, postHead("/slow", "x")+"x")
	require.NoError(t, err)
	waitClosed(t, g.entered, "request in handler")

	errc := b.drainAsync(waitLimit)
	waitClosed(t, b.d.DrainStarted(), "draining")
	resp, _, err := dialRaw(t, b.addr).roundTrip("/work", "y")
	require.NoError(t, err, "the listener stays open while requests are in flight")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("Retry-After"))
	assert.True(t, resp.Close)
	resp, body, err := dialRaw(t, b.addr).roundTrip("/readyz", "")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "health paths are exempt")
	assert.Equal(t, "draining", body)

	close(g.release)
	resp, _, err = slow.read()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, waitErr(t, errc))
}

// waitRefused waits until the server's listener is closed.
func waitRefused(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(time.Millisecond) // a poll: nothing to wait on from outside
	}
	t.Fatal("server still accepts connections")
}

// TestRejectExemptions drains in reject mode, a request in flight holding
// the reject phase open, and checks which requests are still served.
func TestRejectExemptions(t *testing.T) {
	byAgent := httpdrain.WithExemptFunc(func(r *http.Request) bool { return r.Header.Get("User-Agent") == "monitor" })
	tests := []struct {
		name   string
		opts   []httpdrain.Option
		path   string
		agent  string
		served bool
	}{
		{"metrics by default", nil, "/metrics", "", true},
		{"readyz check by default", nil, "/readyz/db", "", true},
		{"readyz by default", nil, "/readyz", "", true},
		{"livez check by default", nil, "/livez/ping", "", true},
		{"other path", nil, "/work", "", false},
		{"no prefix match without slash", nil, "/metricsx", "", false},
		{"custom prefix", []httpdrain.Option{httpdrain.WithExemptPaths("/admin/")}, "/admin/x/y", "", true},
		{"custom paths replace the defaults", []httpdrain.Option{httpdrain.WithExemptPaths("/admin/")}, "/metrics", "", false},
		{"predicate", []httpdrain.Option{byAgent}, "/work", "monitor", true},
		{"predicate false", []httpdrain.Option{byAgent}, "/work", "browser", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			mux := http.NewServeMux()
			mux.Handle("/slow", g)
			mux.HandleFunc("/", echo)
			b := startBackend(t, mux, append([]httpdrain.Option{httpdrain.WithRejectWhileDraining(time.Second)}, tt.opts...)...)
			slow := dialRaw(t, b.addr)
			_, err := io.WriteString(slow, postHead("/slow", "x")+"x")
			require.NoError(t, err)
			waitClosed(t, g.entered, "request in handler")
			errc := b.drainAsync(waitLimit)
			waitClosed(t, b.d.DrainStarted(), "draining")

			c := dialRaw(t, b.addr)
			head := postHead(tt.path, "ping")
			if tt.agent != "" {
				head = strings.Replace(head, "Host: test\r\n", "Host: test\r\nUser-Agent: "+tt.agent+"\r\n", 1)
			}
			_, err = io.WriteString(c, head+"ping")
			require.NoError(t, err)
			resp, body, err := c.read()
			require.NoError(t, err)
			if tt.served {
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, "ping", body)
			} else {
				assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			}
			close(g.release)
			_, _, err = slow.read()
			require.NoError(t, err)
			require.NoError(t, waitErr(t, errc))
		})
	}
}
