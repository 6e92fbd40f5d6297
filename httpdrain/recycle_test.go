package httpdrain_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// schemes are the transports HTTP/1 connections are recycled over.
var schemes = []string{"http", "https"}

// startScheme serves h over scheme through a Drainer with opts.
func startScheme(t testing.TB, scheme string, h http.Handler, opts ...httpdrain.Option) *backend {
	t.Helper()
	if scheme == "https" {
		return serveTLSWith(t, &http.Server{Handler: h}, opts...)
	}
	return startBackend(t, h, opts...)
}

// dialScheme opens a raw HTTP/1.1 connection to b over scheme.
func dialScheme(t testing.TB, scheme string, b *backend) *rawConn {
	t.Helper()
	if scheme == "http" {
		return dialRaw(t, b.addr)
	}
	_, pool := testCert()
	c, err := tls.Dial("tcp", b.addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(waitLimit)))
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

func TestMaxConnectionRequests(t *testing.T) {
	const limit = 3
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			b := startScheme(t, scheme, http.HandlerFunc(echo), httpdrain.WithMaxConnectionRequests(limit))
			c := dialScheme(t, scheme, b)
			for i := 1; i <= limit; i++ {
				resp, body, err := c.roundTrip("/", fmt.Sprint(i))
				require.NoError(t, err)
				assert.Equal(t, fmt.Sprint(i), body)
				assert.Equal(t, i == limit, resp.Close, "Connection: close on response %d of %d", i, limit)
			}
			c.waitEOF(t)
		})
	}
}

// TestMaxConnectionAge runs in a synctest bubble: ages are told by the
// Drainer's coarse clock. TestMaxConnectionRequests covers the goodbye
// over TLS.
func TestMaxConnectionAge(t *testing.T) {
	const age = time.Second
	synctest.Test(t, func(t *testing.T) {
		b := startPipeBackend(t, http.HandlerFunc(echo), httpdrain.WithMaxConnectionAge(age))
		dialed := time.Now()
		c := b.dialRaw(t)
		// The youngest the age can be: 10% jitter, and the age clock's
		// step (1/64 of the age).
		for _, at := range []time.Duration{0, age / 2, age * 88 / 100} {
			time.Sleep(time.Until(dialed.Add(at)))
			resp, _, err := c.roundTrip("/", "young")
			require.NoError(t, err)
			assert.False(t, resp.Close, "a connection %v old is kept alive", at)
		}

		// Idle past its age, the connection stays open: the client may
		// be sending on it. Its next response says goodbye.
		time.Sleep(time.Until(dialed.Add(age * 12 / 10)))
		synctest.Wait()
		resp, body, err := c.roundTrip("/", "old")
		require.NoError(t, err, "an idle connection past its age must still serve")
		assert.Equal(t, "old", body)
		assert.True(t, resp.Close, "Connection: close once the connection is past its age")
		c.waitEOF(t)
	})
}

// TestRecyclingLeavesHTTP2Alone sends requests past both limits over one
// HTTP/2 connection: net/http could end it only with a GOAWAY that may
// refuse a stream.
func TestRecyclingLeavesHTTP2Alone(t *testing.T) {
	var conns atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(echo), ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	b := serveTLSWith(t, srv, httpdrain.WithMaxConnectionRequests(1), httpdrain.WithMaxConnectionAge(time.Nanosecond))
	tr := tlsTransport("h2")
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: waitLimit}
	for i := range 5 {
		resp, body, err := postOnce(client, "https://"+b.addr+"/", fmt.Sprint(i))
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(i), body)
		assert.Equal(t, 2, resp.ProtoMajor)
	}
	assert.EqualValues(t, 1, conns.Load(), "HTTP/2 connections are not recycled")
}

// TestLameDuckWindow holds keep-alive connections busy through the
// lame-duck phase and records when each is told to close: spread over the
// window, not all at the first response after the trigger, and every one
// within the window. It runs in a synctest bubble: the turns are clock
// times.
func TestLameDuckWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			conns  = 20
			window = 800 * time.Millisecond
			pause  = 10 * time.Millisecond
		)
		b := startPipeBackend(t, http.HandlerFunc(echo), httpdrain.WithLameDuckWindow(window))
		cs := make([]*rawConn, conns)
		for i := range cs {
			cs[i] = b.dialRaw(t)
			resp, _, err := cs[i].roundTrip("/", "before")
			require.NoError(t, err)
			require.False(t, resp.Close, "no Connection: close before the trigger")
		}

		close(b.trigger)
		synctest.Wait()
		select {
		case <-httpdrain.LameDuckStarted(b.d):
		default:
			t.Fatal("the lame-duck phase must start at the trigger")
		}
		told := make(chan time.Duration, conns)
		for _, c := range cs {
			go func() { told <- untilClose(c, pause) }()
		}
		var early int
		var last time.Duration
		for range conns {
			at := <-told
			require.GreaterOrEqual(t, at, time.Duration(0), "the connection failed")
			if at < 100*time.Millisecond {
				early++
			}
			last = max(last, at)
		}
		t.Logf("%d of %d connections told within 100ms of the trigger, the last after %v (window %v)", early, conns, last, window)
		assert.LessOrEqual(t, early, conns/2, "the goodbyes must be spread over the window")
		assert.Greater(t, last, window/2, "the goodbyes must be spread over the window")
		assert.LessOrEqual(t, last, window+pause, "every connection is told within the window")
	})
}

// untilClose sends requests on c, pausing between them, until a response
// carries "Connection: close", and returns how long that took; -1 if a
// request failed. It sends at most 10,000.
func untilClose(c *rawConn, pause time.Duration) time.Duration {
	start := time.Now()
	for i := range 10_000 {
		resp, body, err := c.roundTrip("/", fmt.Sprint(i))
		if err != nil || body != fmt.Sprint(i) {
			return -1
		}
		if resp.Close {
			return time.Since(start)
		}
		time.Sleep(pause)
	}
	return -1
}

// TestLameDuckWindowEndsAtDrain checks that the drain does not wait
// for turns that have not come: a connection busy when it starts is served
// and then closed.
func TestLameDuckWindowEndsAtDrain(t *testing.T) {
	g := newGate()
	b := startBackend(t, g, httpdrain.WithLameDuckWindow(time.Hour))
	c := dialRaw(t, b.addr)
	close(b.trigger)
	waitClosed(t, httpdrain.LameDuckStarted(b.d), "lame duck")
	_, err := c.Write([]byte(postHead("/", "x") + "x"))
	require.NoError(t, err)
	waitClosed(t, g.entered, "request entered")
	drained := b.drainAsync(waitLimit)
	waitClosed(t, b.d.DrainStarted(), "draining")
	close(g.release)
	_, body, err := c.read()
	require.NoError(t, err)
	assert.Equal(t, "done", body)
	c.waitEOF(t)
	require.NoError(t, waitErr(t, drained), "the drain must not wait for the window")
}
