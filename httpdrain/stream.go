package httpdrain

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// ErrDraining is the cause (see [context.Cause]) of a context returned by
// [StreamContext] when the drain tells its stream to end.
var ErrDraining = errors.New("httpdrain: server is draining")

// StreamContext returns a copy of ctx that is also cancelled, with cause
// [ErrDraining], when the drain of the server that received the request
// starts ([Drainer.DrainStarted]), or, with [WithDrainWindow], at the
// stream's turn within the window. ctx is a request's context
// (r.Context()) or one derived from it. Call stop when the stream is over:
// it cancels the returned context with [context.Canceled] and releases
// what StreamContext holds. Like [os/signal.NotifyContext], it does not
// block, and stop may be called more than once.
//
// It is for responses that never end by themselves: server-sent events,
// long polls, streaming downloads and bodies, WebSockets. Such a handler
// selects on the returned context, and when it is done, ends its response
// as it would at the end of the stream and returns: the client sees the
// stream end cleanly and reconnects, through the load balancer, to a
// server that is not draining (see "Streaming responses" in the package
// doc). Requests that do not ask keep r.Context() as net/http gives it:
// the drain lets finite responses complete and cancels nothing, so that a
// database query that honours its context is not cut short. The drain
// waits for every handler, streams included, until its deadline.
//
// A handler that hijacks its connection and hands it to a goroutine that
// outlives the handler (WebSocket libraries do) passes
// context.WithoutCancel(r.Context()) instead, as net/http cancels
// r.Context() when the handler returns; the drain waits for such
// connections to be closed until its deadline.
//
// The server is found through the connection's context, which [New] sets
// through srv.ConnContext: for a request that did not come through a
// server given to New, or if srv.ConnContext was replaced after New, the
// returned context is not cancelled by any drain.
func StreamContext(ctx context.Context) (_ context.Context, stop context.CancelFunc) {
	sctx, cancel := context.WithCancelCause(ctx)
	ci, _ := ctx.Value(connKey{}).(*connInfo)
	if ci == nil {
		return sctx, func() { cancel(context.Canceled) }
	}
	d := ci.d
	s := &stream{d: d, cancel: cancel}
	if w := d.cfg.drainWindow; w > 0 {
		s.turn = time.Duration(rand.Int64N(int64(w)))
	}
	s.stopWatch = context.AfterFunc(d.streams.context(), s.end)
	return sctx, s.stop
}

// WithDrainWindow spreads the end of the streams [StreamContext] serves
// over d from the start of the drain: each stream's context is cancelled
// at a turn drawn at random within d, rather than all at once, so that
// their clients do not all reconnect, and replay what they missed, in the
// same instant (grpcdrain's WithDrainWindow does the same for gRPC
// streams). A stream that opens after its turn ends at once. Keep d well
// within the drain's time (the grace period less the propagation delay,
// the safety margin and the after-drain reserve): the drain does not wait
// for turns, and a stream that has not ended by the drain's deadline is
// cut.
//
// A d of 0 or less means no window: every stream is told at the start of
// the drain. That is the default.
func WithDrainWindow(d time.Duration) Option {
	return func(c *config) { c.drainWindow = max(d, 0) }
}

// checkCarried logs, once, that r's context does not lead to the Drainer,
// so that StreamContext cannot tell its handler of the drain: srv.ConnContext
// was replaced after New. It runs at the first request.
func (d *Drainer) checkCarried(r *http.Request) {
	if ci, _ := r.Context().Value(connKey{}).(*connInfo); ci == nil && !d.reported.Swap(true) {
		d.cfg.logger.Error("httpdrain: misconfigured server",
			"err", fmt.Errorf("%w: srv.ConnContext was replaced after New: set it before New, which calls it, so that StreamContext sees the drain", ErrBypassed))
	}
}

// streamSignal is the drain's start as a context, on which the streams of
// StreamContext hang their ends without a goroutine each. Its zero value
// is ready to use.
type streamSignal struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	at     time.Time // when end was called; set before ctx is cancelled
}

func (s *streamSignal) init() {
	s.once.Do(func() { s.ctx, s.cancel = context.WithCancel(context.Background()) })
}

// context returns the context cancelled when the drain starts.
func (s *streamSignal) context() context.Context {
	s.init()
	return s.ctx
}

// end tells the streams that the drain has started. It is called once.
func (s *streamSignal) end() {
	s.init()
	s.at = time.Now()
	s.cancel()
}

// stream is one StreamContext's hold on the drain.
type stream struct {
	d         *Drainer
	cancel    context.CancelCauseFunc
	turn      time.Duration // after the drain's start
	stopWatch func() bool   // stops the AfterFunc that calls end

	mu      sync.Mutex
	stopped bool
	timer   *time.Timer // set by end when the turn is still to come
}

// end cancels the stream's context at its turn.
func (s *stream) end() {
	wait := time.Until(s.d.streams.at.Add(s.turn))
	if wait <= 0 {
		s.cancel(ErrDraining)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.timer = time.AfterFunc(wait, func() { s.cancel(ErrDraining) })
	}
}

// stop is the stop function StreamContext returns.
func (s *stream) stop() {
	s.stopWatch()
	s.mu.Lock()
	s.stopped = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	s.cancel(context.Canceled)
}
