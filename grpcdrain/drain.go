package grpcdrain

import (
	"context"
	"fmt"
	"time"
)

// Drain drains the server; it is the drain step to give the shutdown
// sequence. In order, it:
//
//  1. puts the health service NOT_SERVING (latched), if the trigger has
//     not done so already;
//  2. ends the health service's Watch streams (grpc-go#8776), tells the
//     streams of [WithEndlessStreams] to end (one after another over
//     [WithDrainWindow], if given), and starts GracefulStop: the
//     listeners close, every connection gets GOAWAY, and RPCs in flight go
//     on; clients open new RPCs elsewhere;
//  3. lets the other streams in flight run: finite ones complete. Streams
//     still open [WithStreamEndLead] before ctx's deadline (one after
//     another over [WithDrainWindow], if given) are told to end: their
//     contexts are cancelled with [ErrDraining] and a RecvMsg that is
//     pending or comes later returns codes.Unavailable. The client of such
//     a stream gets codes.Unavailable, whatever the handler returns, unless
//     the handler returns a status of its own (see Streams in the package
//     doc);
//  4. returns nil as soon as GracefulStop returns, that is when the last
//     handler has returned.
//
// When ctx is done first, Drain tells the streams to end if it had not
// yet, starts Stop (every connection closes, RPCs still in flight fail
// with codes.Unavailable) and returns an error wrapping [ErrForced] and
// context.Cause(ctx), without waiting for handlers that ignore their
// context: it returns promptly after ctx is done however the handlers
// behave. With grpc.WaitForHandlers(true) in [WithServerOptions], Stop
// itself waits for every handler: Drain waits for it at most 100 ms, and
// returns while it goes on; [Server.InFlight] tells when they have all
// returned. Without a deadline or cancellation on ctx, Drain waits for
// GracefulStop however long it takes (the streams of [WithEndlessStreams]
// are told to end all the same).
//
// Drain does not close listeners the server was not serving, and does not
// wait for the handlers Stop left running. It may run in parallel with the
// drains of other servers. It runs once: a later or concurrent call waits
// for the first one and returns its result, or returns early with its own
// ctx's error.
func (s *Server) Drain(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		select {
		case <-s.finished:
			return s.err
		case <-ctx.Done():
			return fmt.Errorf("grpcdrain: waiting for the drain already running: %w", context.Cause(ctx))
		}
	}
	s.err = s.drain(ctx)
	close(s.finished)
	return s.err
}

func (s *Server) drain(ctx context.Context) error {
	s.health.Shutdown()
	s.endHealth()
	start := time.Now()
	deadline, hasDeadline := ctx.Deadline()
	after, ok := s.cfg.noticeAfter(deadline, hasDeadline, start)
	endlessWindow := s.cfg.drainWindow
	if ok {
		endlessWindow = min(endlessWindow, after)
	}
	s.endless.open(start, start.Add(endlessWindow))
	go func() {
		s.Server.GracefulStop()
		close(s.stopped)
	}()

	var notice <-chan time.Time
	if ok {
		timer := time.NewTimer(max(after-s.cfg.drainWindow, 0))
		defer timer.Stop()
		notice = timer.C
	}
	for {
		select {
		case <-s.stopped:
			s.finite.cancel(ErrDraining) // nothing left to tell: a release
			return nil
		case now := <-notice:
			s.finite.open(now, start.Add(after))
			notice = nil
		case <-ctx.Done():
			s.finite.cancel(ErrDraining)
			inFlight := s.inFlight.Load()
			s.stop()
			return fmt.Errorf("%w with %d RPCs in flight: %w", ErrForced, inFlight, context.Cause(ctx))
		}
	}
}

// stopWait is the longest a forced Drain waits for the server's Stop to
// return. Stop closes every connection, then returns at once, unless
// grpc.WaitForHandlers(true) makes it wait for every handler too, however
// long they take.
const stopWait = 100 * time.Millisecond

// stop calls Stop, and waits for it to return at most stopWait.
func (s *Server) stop() {
	returned := make(chan struct{})
	go func() {
		s.Server.Stop()
		close(returned)
	}()
	t := time.NewTimer(stopWait)
	defer t.Stop()
	select {
	case <-returned:
	case <-t.C:
	}
}
