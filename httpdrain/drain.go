package httpdrain

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// maxPollInterval bounds the wait between two looks at the server's state
// during the drain; net/http's Shutdown polls the same way (up to 500ms).
const maxPollInterval = 50 * time.Millisecond

// Drain is the drain step for the server: it returns nil once every request,
// connection and registered shutdown function has finished, or, when ctx
// ends first, closes what is left and returns an error wrapping
// [ErrForced] and the context's error, unless nothing was in flight (no
// request, request header still arriving, hijacked connection or
// registered function): closing connections that carry no request cuts
// nothing, so Drain then returns nil. It returns promptly at the deadline
// even if handlers ignore their request context; those handlers keep
// running until they return, their connections closed.
//
// In order, Drain:
//  1. starts the lame-duck phase if the trigger channel is still open:
//     HTTP/1 responses carry "Connection: close"; unless
//     [WithRejectWhileDraining] (see step 3), closes the idle and
//     never-used connections whose client has not started a request (see
//     step 4), then makes the server's listeners refuse new connections,
//     as Shutdown would, but without shutting the server down yet (on
//     Linux, for listeners with a socket: *net.TCPListener,
//     *net.UnixListener, and listeners that embed one in a field named
//     Listener, as crypto/tls's does; elsewhere they close in step 5);
//  2. closes the [Drainer.DrainStarted] channel and tells the streams of
//     [StreamContext] to end;
//  3. with [WithRejectWhileDraining], keeps accepting, answering new requests
//     503, until the requests in flight have finished, and only then
//     refuses new connections;
//  4. closes idle and never-used HTTP/1 connections whose client has not
//     started a request, and waits for the others to deliver their request
//     header, TLS handshakes under way included, for 500ms from here at
//     most: the server's own Shutdown would close them mid-request, or
//     drop the request. A connection that has not delivered a whole
//     header by then (a stalled client, a slowloris) is not a request in
//     flight: it is closed in the next step. On Linux the kernel's
//     tcp_info tells which connections have started a request; elsewhere
//     all count as quiet once their TLS handshake is over;
//  5. calls the server's Shutdown: the listeners close, HTTP/2 connections
//     get a GOAWAY and finish their streams (on Linux, the drain then ends
//     those that have gone quiet, see the package doc), functions
//     registered with RegisterOnShutdown start; meanwhile it closes the
//     connections that have not delivered a request header, which
//     Shutdown would not serve but waits ~5s for (golang/go#22682);
//  6. waits for handlers still running, hijacked connections to be closed
//     by their owners (Shutdown ignores them, golang/go#17721) and
//     functions registered with [Drainer.RegisterOnShutdown] to return.
//
// If srv.Handler or srv.ConnState was replaced after [New], Drain still
// stops the server but cannot spare what it does not see, and returns an
// error wrapping [ErrBypassed] that names the fix. If srv.BaseContext was,
// the listeners accept until step 5.
//
// Drain shares nothing with other servers' drains: the shutdown sequence
// runs them all at once. It does not return before ctx ends if ctx has no
// deadline and something never finishes. It may be called more than once,
// concurrently too: later calls wait for the first and return its result,
// or an error wrapping their own context's error if that ends first. The
// server cannot serve again afterwards.
func (d *Drainer) Drain(ctx context.Context) error {
	first := false
	d.drainOnce.Do(func() { first = true })
	if first {
		bypassed := d.bypassed()
		d.drainErr = errors.Join(bypassed, d.drain(ctx))
		close(d.drained)
		return d.drainErr
	}
	select {
	case <-d.drained:
		return d.drainErr
	case <-ctx.Done():
		return fmt.Errorf("httpdrain: another drain still running: %w", context.Cause(ctx))
	}
}

func (d *Drainer) drain(ctx context.Context) error {
	d.goLame() // also ends watch
	if !d.cfg.reject {
		// The quiet connections first, then the listeners: in
		// BenchmarkIdleRace, refusing connections first left more
		// requests sent on idle connections just after the start failing.
		d.conns.closeQuiet()
		d.lns.stop() // before DrainStarted closes: whoever sees it, sees this
	}
	close(d.draining)
	d.streams.end()
	if d.cfg.reject {
		poll(ctx, func() bool { return d.reqs.load() == 0 })
		d.lns.stop()
	}
	arriving := d.awaitHeaders(ctx)
	err := d.shutdown(ctx)
	if poll(ctx, d.quiescent) && err == nil {
		return nil
	}
	if ctx.Err() == nil {
		return fmt.Errorf("httpdrain: server shutdown: %w", err)
	}
	reqs, hijacked, registered := d.reqs.load(), d.conns.openHijacked(), d.onShutdown.Load()
	d.srv.Close()
	d.conns.closeHijacked()
	reqs += int64(arriving)
	if reqs == 0 && hijacked == 0 && registered == 0 {
		// Nothing was cut: what Shutdown still waited for were
		// connections with no request, such as HTTP/2 connections that
		// net/http keeps for up to a second after their GOAWAY
		// (h2_bundle.go, goAwayTimeout).
		return nil
	}
	return fmt.Errorf("%w (%d requests in flight, %d hijacked connections open): %w",
		ErrForced, reqs, hijacked, context.Cause(ctx))
}

// headerGrace is how long, from its start, the drain waits for the requests
// whose header is arriving on idle or new connections, TLS handshakes
// included, before it shuts the server down: a client that started its
// request a moment before the drain delivers its header within a network
// round trip or two; one that stalls (a single byte, a slowloris) does not
// hold the drain longer.
const headerGrace = 500 * time.Millisecond

// awaitHeaders closes the quiet idle and new connections until none is
// left with a request arriving, headerGrace from now at most, and returns
// how many were left when ctx ended first.
func (d *Drainer) awaitHeaders(ctx context.Context) (arriving int) {
	end := time.Now().Add(headerGrace)
	if poll(ctx, func() bool {
		arriving = d.conns.closeQuiet()
		return arriving == 0 || !time.Now().Before(end)
	}) {
		return 0
	}
	return arriving
}

// shutdown runs the server's Shutdown and, while it waits, closes the
// connections that have not delivered a request header: Shutdown counts
// them as busy for their first 5 seconds (server.go, closeIdleConns), but
// would not serve their request.
func (d *Drainer) shutdown(ctx context.Context) error {
	errc := make(chan error, 1)
	goAway := d.conns.watchGoAway() // before Shutdown sends the GOAWAYs
	go func() { errc <- d.srv.Shutdown(ctx) }()
	wait := time.Millisecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-t.C:
		}
		d.conns.closeNew()
		goAway.closeDone()
		wait = min(2*wait, maxPollInterval)
		t.Reset(wait)
	}
}

// poll calls done with a growing pause until it reports true or ctx ends,
// and reports whether done did.
func poll(ctx context.Context, done func() bool) bool {
	wait := time.Millisecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for !done() {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		wait = min(2*wait, maxPollInterval)
		t.Reset(wait)
	}
	return true
}
