package grpcdrain

import (
	"context"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
)

// Drainer drains one *grpc.Server. Its construction has two steps because
// its interceptors must be passed to grpc.NewServer before the server
// exists: [New], then grpc.NewServer with [Drainer.ServerOptions], then
// [Drainer.Attach], and [Drainer.Drain] as the drain step.
//
// All methods are safe for concurrent use. A Drainer drains one server
// once; it cannot be reused.
type Drainer struct {
	triggered <-chan struct{}
	cfg       config

	inFlight atomic.Int64
	target   atomic.Pointer[target]

	// healthNotice is cancelled when the drain starts: it ends the health
	// Watch streams and the goroutine Attach starts.
	healthNotice context.Context
	endHealth    context.CancelFunc
	// streamNotice is cancelled with ErrDraining once the stream grace
	// has passed: it ends every other long-lived stream.
	streamNotice context.Context
	endStreams   context.CancelCauseFunc

	started  atomic.Bool
	finished chan struct{} // closed when the first Drain returns
	err      error         // the first Drain's result, read after finished
	stopped  chan struct{} // closed when GracefulStop returns
}

type target struct {
	srv    *grpc.Server
	health *health.Server
}

// New returns a Drainer that puts the health service NOT_SERVING once
// triggered is closed (typically the shutdown sequence's Triggered
// channel). A nil triggered means the health service goes NOT_SERVING only
// when [Drainer.Drain] starts. New returns an error for an invalid option.
func New(triggered <-chan struct{}, opts ...Option) (*Drainer, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	d := &Drainer{
		triggered: triggered,
		cfg:       cfg,
		finished:  make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	d.healthNotice, d.endHealth = context.WithCancel(context.Background())
	d.streamNotice, d.endStreams = context.WithCancelCause(context.Background())
	return d, nil
}

// ServerOptions returns the options to pass to grpc.NewServer: the unary
// and stream interceptors (chained, so other interceptors may follow; pass
// these first so that the tracking covers the interceptors after them),
// and grpc.KeepaliveParams if [WithMaxConnectionAge] was used. It may be
// called more than once.
func (d *Drainer) ServerOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(d.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(d.StreamServerInterceptor()),
	}
	if ka := d.cfg.keepaliveOption(); ka != nil {
		opts = append(opts, ka)
	}
	return opts
}

// Attach tells d which server to drain and which health service to put
// NOT_SERVING; hs may be nil when the server has none. Call it once, after
// grpc.NewServer and before the trigger; a second call or a nil srv
// panics.
//
// When hs and the triggered channel are not nil, Attach starts one
// goroutine that waits for the trigger, calls hs.Shutdown (which latches
// every service NOT_SERVING, so a late SetServingStatus cannot put the
// server back in rotation), and ends; it also ends when the drain starts.
// Nothing else happens at the trigger: the server keeps accepting
// connections and serving RPCs until [Drainer.Drain].
func (d *Drainer) Attach(srv *grpc.Server, hs *health.Server) {
	if srv == nil {
		panic("grpcdrain: Attach with a nil server")
	}
	if !d.target.CompareAndSwap(nil, &target{srv: srv, health: hs}) {
		panic("grpcdrain: Attach called twice")
	}
	if hs == nil || d.triggered == nil {
		return
	}
	go func() {
		select {
		case <-d.triggered:
			hs.Shutdown()
		case <-d.healthNotice.Done():
		}
	}()
}

// InFlight returns the number of RPCs (unary calls and streams) whose
// handlers are running, as counted by the interceptors; it is 0 when they
// were not installed.
func (d *Drainer) InFlight() int64 {
	return d.inFlight.Load()
}

// Stopped returns a channel that is closed when the server's GracefulStop
// has returned, that is when the last handler has returned. After a forced
// drain it may close well after [Drainer.Drain] returned (a handler that
// ignores its context keeps running after Stop), or never.
func (d *Drainer) Stopped() <-chan struct{} {
	return d.stopped
}
