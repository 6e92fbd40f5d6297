package httpdrain

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

var (
	// ErrInvalidOption is wrapped by the error [New] returns for an
	// option with an invalid value.
	ErrInvalidOption = errors.New("httpdrain: invalid option")

	// ErrForced is wrapped by the error [Drainer.Drain] returns when its
	// context ended before the server was quiet, so that it closed the
	// remaining connections.
	ErrForced = errors.New("httpdrain: forced close at the deadline")
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
	onShutdown atomic.Int64 // RegisterOnShutdown functions not yet returned

	lame      atomic.Bool   // set once the trigger or Drain started the lame-duck phase
	lameDuck  chan struct{} // closed right after lame is set
	draining  chan struct{} // closed when Drain starts
	drainOnce sync.Once
	drainErr  error
}

// New returns a Drainer for srv. From the moment triggered is closed, every
// HTTP/1 response of srv carries "Connection: close", so keep-alive
// clients reconnect, through the load balancer, while srv still accepts
// connections; HTTP/2 connections get a GOAWAY at the drain (see the
// package doc). A nil triggered is never closed: the
// lame-duck phase then starts with [Drainer.Drain].
//
// New wraps srv.Handler (http.DefaultServeMux if nil) with
// [Drainer.Middleware] and chains srv.ConnState, calling the hook already
// set after its own; it must be called before srv serves and before any
// later change to those two fields. It does not touch the listener. It
// starts one goroutine that waits for triggered to close or Drain to start,
// so that requests test an atomic flag rather than a channel: call Drain
// (or close triggered) to end it. It returns an error if srv is nil, and
// one wrapping [ErrInvalidOption] for an invalid option.
func New(srv *http.Server, triggered <-chan struct{}, opts ...Option) (*Drainer, error) {
	if srv == nil {
		return nil, errors.New("httpdrain: nil *http.Server: pass the server to drain")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	d := &Drainer{srv: srv, triggered: triggered, cfg: cfg, lameDuck: make(chan struct{}), draining: make(chan struct{})}
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	srv.Handler = d.Middleware(h)
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		d.conns.track(c, s)
		if prev != nil {
			prev(c, s)
		}
	}
	go d.watch()
	return d, nil
}

// watch starts the lame-duck phase at the trigger or at the drain.
func (d *Drainer) watch() {
	select {
	case <-d.triggered:
	case <-d.draining:
	}
	d.lame.Store(true)
	close(d.lameDuck)
}

// LameDuck returns a channel closed once HTTP/1 responses carry
// "Connection: close": soon after the trigger channel closes, or when [Drainer.Drain]
// starts. The channel is the same on every call.
func (d *Drainer) LameDuck() <-chan struct{} { return d.lameDuck }

// Draining returns a channel closed when [Drainer.Drain] starts. Owners of
// hijacked connections (WebSockets) and other long-lived exchanges watch it
// to say goodbye and close: Drain waits for them until its deadline, then
// closes their connections. The channel is the same on every call.
func (d *Drainer) Draining() <-chan struct{} { return d.draining }

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
