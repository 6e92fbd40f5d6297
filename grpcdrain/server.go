package grpcdrain

import (
	"context"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
)

// Lifecycle is what this package needs of the shutdown sequence: a channel
// closed once at the trigger, when the process becomes a lame duck.
// *shutdown.Sequence implements it.
type Lifecycle interface{ Triggered() <-chan struct{} }

// Server is a *grpc.Server that drains without failing an RPC: register
// services on it as on any *grpc.Server, serve it with [Server.Serve] or
// [Server.ListenAndServe], and give [Server.Drain] to the shutdown
// sequence as its drain step.
//
// Calling the embedded GracefulStop or Stop directly bypasses the drain:
// no deadline, no notice to long-lived streams.
//
// All methods are safe for concurrent use. A Server drains once; it cannot
// be reused.
type Server struct {
	*grpc.Server
	health *health.Server
	cfg    config

	inFlight atomic.Int64

	// healthNotice is cancelled when the drain starts: it ends the health
	// Watch streams and the goroutine NewServer starts.
	healthNotice context.Context
	endHealth    context.CancelFunc
	// endless tells the streams of WithEndlessStreams to end, when the
	// drain starts; finite, the other streams, when they have had their
	// time.
	endless, finite *notice

	started  atomic.Bool
	finished chan struct{} // closed when the first Drain returns
	err      error         // the first Drain's result, read after finished
	stopped  chan struct{} // closed when GracefulStop returns
}

// NewServer returns a gRPC server with, in this order:
//
//   - this package's interceptors, first in the chain so that they see
//     every RPC, then the interceptors of [WithServerOptions];
//   - grpc.KeepaliveParams if [WithMaxConnectionAge] was given, then the
//     rest of the options of [WithServerOptions];
//   - the standard health service (grpc.health.v1) registered, SERVING
//     for the whole server ("") until the trigger.
//
// It starts one goroutine that waits for lc's Triggered channel, then
// puts every service of the health service NOT_SERVING for good (a later
// SetServingStatus cannot put the server back in rotation), and ends; it
// also ends when the drain starts. Nothing else happens at the trigger: the
// server keeps accepting connections and serving RPCs until
// [Server.Drain]. A nil Triggered channel means the health service goes
// NOT_SERVING only when the drain starts.
//
// NewServer panics if lc is nil. Reflection and other services stay the
// caller's to register.
func NewServer(lc Lifecycle, opts ...Option) *Server {
	if lc == nil {
		panic("grpcdrain: NewServer with a nil Lifecycle: pass the shutdown sequence (*shutdown.Sequence)")
	}
	s := &Server{
		cfg:      newConfig(opts),
		health:   health.NewServer(),
		finished: make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	s.healthNotice, s.endHealth = context.WithCancel(context.Background())
	s.endless, s.finite = newNotice(), newNotice()
	s.Server = grpc.NewServer(s.cfg.serverOptions(s)...)
	healthgrpc.RegisterHealthServer(s.Server, s.health)

	triggered := lc.Triggered()
	go func() {
		select {
		case <-triggered:
			s.health.Shutdown()
		case <-s.healthNotice.Done():
		}
	}()
	return s
}

// Health returns the health service registered on the server. Set the
// status of individual services on it while serving; from the trigger on
// every status is NOT_SERVING and stays so.
func (s *Server) Health() *health.Server {
	return s.health
}

// InFlight returns the number of RPCs (unary calls and streams) whose
// handlers are running, the health service's included. After a forced
// drain it counts the handlers that ignore their context until they
// return: 0 then says every handler has returned.
func (s *Server) InFlight() int64 {
	return s.inFlight.Load()
}
