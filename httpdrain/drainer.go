package httpdrain

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Lifecycle is what this package needs of the shutdown sequence: a channel closed once at
// the trigger, when the process becomes a lame duck. *shutdown.Sequence implements it.
type Lifecycle interface{ Triggered() <-chan struct{} }

var (
	// ErrForced is wrapped by the error [Drainer.Drain] returns when its
	// context ended before the server was quiet, so that it closed the
	// remaining connections.
	ErrForced = errors.New("httpdrain: forced close at the deadline")

	// ErrBypassed is wrapped by the error [Drainer.Drain] returns when
	// srv.Handler or srv.ConnState was replaced after [New], so that the
	// server no longer goes through the Drainer: requests are not counted,
	// responses get no "Connection: close", connections are not tracked.
	// Drain still stops the server.
	ErrBypassed = errors.New("httpdrain: server bypasses the drainer")
)

// A Drainer turns an [http.Server] into a drain step and a lame-duck
// middleware. Create it with [New] before the server starts serving. Its
// methods are safe for concurrent use.
type Drainer struct {
	srv       *http.Server
	triggered <-chan struct{}
	cfg       *config

	reqs       inflight
	conns      conns
	lns        listeners
	onShutdown atomic.Int64 // RegisterOnShutdown functions not yet returned
	sawConn    atomic.Bool  // the ConnState hook has run
	sawRequest atomic.Bool  // the middleware has run
	reported   atomic.Bool  // a bypass has been logged

	lame      atomic.Bool   // set once the trigger or Drain started the lame-duck phase
	lameAt    time.Time     // when it did; set before lame
	lameOnce  sync.Once     // guards lameAt, lame and lameDuck
	clock     ageClock      // see WithMaxConnectionAge
	lameDuck  chan struct{} // closed right after lame is set (for tests: export_test.go)
	draining  chan struct{} // closed when Drain starts
	drainOnce sync.Once
	drained   chan struct{} // closed when the first Drain returns
	drainErr  error         // set before drained is closed
	streams   streamSignal  // ends the streams of StreamContext when Drain starts
}

// New returns a Drainer for srv, in the lame-duck phase from the moment
// lc's Triggered channel closes (never, if that channel is nil: the phase
// then starts with [Drainer.Drain]). In that phase every HTTP/1 response of
// srv carries "Connection: close", so keep-alive clients reconnect, through
// the load balancer, while srv still accepts connections; HTTP/2
// connections get a GOAWAY at the drain (see the package doc). The
// Drainer's goroutine sees the channel close within a scheduling delay:
// responses whose handler started before then do not carry the header.
//
// New wraps srv.Handler (http.DefaultServeMux if nil) with
// [Drainer.Middleware] and chains three hooks: srv.ConnState, calling the
// hook already set after its own; srv.BaseContext, to learn the listeners
// the drain stops, calling the function already set after its own; and
// srv.ConnContext, to give each connection's requests their connection and
// the Drainer (one context value per connection, for [StreamContext] and the
// connection options), calling the function already set first.
// It must be called before srv serves. Replacing srv.Handler or
// srv.ConnState afterwards makes the server bypass the Drainer: New's hooks
// detect it at the first connection or request and log it at ERROR, and
// [Drainer.Drain] reports it with [ErrBypassed]; replacing srv.BaseContext
// or srv.ConnContext disables what they serve (see [Drainer.Drain],
// [StreamContext] and [WithMaxConnectionAge]), and a replaced
// srv.ConnContext is logged. To change the handler after New, set
// srv.Handler to d.Middleware(h). New does not touch the listener until
// the drain. It starts one goroutine that waits for the trigger or the
// drain, so that requests test an atomic flag rather than a channel: call
// Drain (or close the trigger channel) to end it.
//
// New panics if srv or lc is nil, as WithLogger and WithExemptFunc do on
// nil: those are mistakes in the program. Values that may come from
// configuration (durations, counts) never panic: each option says what it
// does with 0, negative and out-of-range values.
func New(srv *http.Server, lc Lifecycle, opts ...Option) *Drainer {
	if srv == nil {
		panic("httpdrain: New: nil *http.Server: pass the server to drain")
	}
	if lc == nil {
		panic("httpdrain: New: nil Lifecycle: pass the shutdown sequence (*shutdown.Sequence)")
	}
	d := &Drainer{srv: srv, triggered: lc.Triggered(), cfg: newConfig(opts),
		lameDuck: make(chan struct{}), draining: make(chan struct{}), drained: make(chan struct{})}
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	srv.Handler = d.Middleware(h)
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if !d.sawConn.Load() {
			d.sawConn.Store(true)
			d.checkBypass()
		}
		d.conns.track(c, s)
		if prev != nil {
			prev(c, s)
		}
	}
	prevBase := srv.BaseContext
	srv.BaseContext = func(l net.Listener) context.Context {
		d.lns.add(l)
		if prevBase != nil {
			return prevBase(l)
		}
		return context.Background()
	}
	d.trackConns()
	go d.watch()
	return d
}

// bypassed returns an error wrapping [ErrBypassed] that names the fix if
// the server does not lead to the Drainer, else nil. srv.Handler must be
// the Drainer's middleware. srv.ConnState may be chained (httptest does),
// so what tells that it was replaced is a request without a connection:
// net/http runs the hook of a connection's StateNew before it serves its
// first request (server.go, Serve).
func (d *Drainer) bypassed() error {
	if m, ok := d.srv.Handler.(*middleware); !ok || m.d != d {
		return fmt.Errorf("%w: srv.Handler was replaced after New: set it before New, or to d.Middleware(handler)", ErrBypassed)
	}
	if d.sawRequest.Load() && !d.sawConn.Load() {
		return fmt.Errorf("%w: srv.ConnState was replaced after New: set it before New, which calls it, or call the hook New set from the new one", ErrBypassed)
	}
	return nil
}

// checkBypass logs, once, that the server bypasses the Drainer. It runs at
// the first connection (catching a replaced srv.Handler) and at the first
// request (a replaced srv.ConnState).
func (d *Drainer) checkBypass() {
	if err := d.bypassed(); err != nil && !d.reported.Swap(true) {
		d.cfg.logger.Error("httpdrain: misconfigured server", "err", err)
	}
}

// watch starts the lame-duck phase at the trigger or at the drain, and
// until then advances the age clock.
func (d *Drainer) watch() {
	tick, stop := d.clock.ticker(d.cfg.maxAge)
	defer stop()
	for lame := false; !lame; {
		select {
		case <-d.triggered:
			lame = true
		case <-d.draining:
			lame = true
		case now := <-tick:
			d.clock.advance(now)
		}
	}
	d.goLame()
}

// goLame starts the lame-duck phase, once: from watch at the trigger, or
// from Drain itself, which does not wait for watch to be scheduled.
func (d *Drainer) goLame() {
	d.lameOnce.Do(func() {
		d.lameAt = time.Now()
		d.lame.Store(true)
		close(d.lameDuck)
	})
}

// DrainStarted returns a channel closed when [Drainer.Drain] starts, after
// the propagation delay, never at the trigger (the lame-duck phase starts
// at the lifecycle's Triggered channel). Owners of hijacked connections
// (WebSockets) and other long-lived exchanges watch it to say goodbye and
// close: Drain waits for them until its deadline, then closes their
// connections. By the time it is closed, the listeners refuse new
// connections (unless [WithRejectWhileDraining]). The channel is the same
// on every call.
func (d *Drainer) DrainStarted() <-chan struct{} { return d.draining }

// InFlight returns the number of requests being served by handlers
// wrapped with [Drainer.Middleware], including handlers that hijacked their
// connection and have not returned. It is a snapshot: exact only while no
// request starts or ends.
func (d *Drainer) InFlight() int64 { return d.reqs.load() }

// RegisterOnShutdown registers f to be started when the drain stops the
// server, like [http.Server.RegisterOnShutdown], and makes
// [Drainer.Drain] wait, within its deadline, for f to return: the server
// starts such functions in goroutines and never waits for them. Functions
// registered directly on the server are started but cannot be awaited.
// It may be called any number of times before Drain.
func (d *Drainer) RegisterOnShutdown(f func()) {
	d.onShutdown.Add(1)
	d.srv.RegisterOnShutdown(func() {
		defer d.onShutdown.Add(-1)
		f()
	})
}

// quiescent reports whether nothing is left for the drain to wait for once
// the server has shut down.
func (d *Drainer) quiescent() bool {
	return d.reqs.load() == 0 && d.onShutdown.Load() == 0 && d.conns.openHijacked() == 0
}
