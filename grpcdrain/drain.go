package grpcdrain

import (
	"context"
	"fmt"
	"time"
)

// Drain drains the attached server; it is the drain step to register with
// the shutdown sequence (its signature is that of a step). In order, it:
//
//  1. puts the health service NOT_SERVING (latched), if [Drainer.Attach]
//     was given one and the trigger has not done so already;
//  2. ends the health service's Watch streams (grpc-go#8776) and starts
//     GracefulStop: the listeners close, every connection gets GOAWAY, and
//     RPCs in flight go on; clients open new RPCs elsewhere;
//  3. after [WithStreamGrace], cancels the contexts of the other long-lived
//     streams with [ErrDraining], so their handlers can end them cleanly;
//  4. returns nil as soon as GracefulStop returns, that is when the last
//     handler has returned.
//
// When ctx is done first, Drain cancels the streams' contexts if it had not
// yet, calls Stop (every connection closes, RPCs still in flight fail with
// codes.Unavailable) and returns an error wrapping [ErrForced] and
// context.Cause(ctx), without waiting for handlers that ignore their
// context: it returns promptly after ctx is done however the handlers
// behave. [Drainer.Stopped] tells when they have all returned. Without a
// deadline or cancellation on ctx, Drain waits for GracefulStop however long
// it takes.
//
// Drain does not close listeners the server was not serving, and does not
// wait for the handlers Stop left running. It returns [ErrNotAttached]
// before Attach. It runs once: a later or concurrent call
// waits for the first one and returns its result, or returns early with
// its own ctx's error.
func (d *Drainer) Drain(ctx context.Context) error {
	t := d.target.Load()
	if t == nil {
		return ErrNotAttached
	}
	if !d.started.CompareAndSwap(false, true) {
		select {
		case <-d.finished:
			return d.err
		case <-ctx.Done():
			return fmt.Errorf("grpcdrain: waiting for the drain already running: %w", context.Cause(ctx))
		}
	}
	d.err = d.drain(ctx, t)
	close(d.finished)
	return d.err
}

func (d *Drainer) drain(ctx context.Context, t *target) error {
	if t.health != nil {
		t.health.Shutdown()
	}
	d.endHealth()
	go func() {
		t.srv.GracefulStop()
		close(d.stopped)
	}()

	var grace <-chan time.Time
	if d.cfg.streamGrace > 0 {
		timer := time.NewTimer(d.cfg.streamGrace)
		defer timer.Stop()
		grace = timer.C
	} else {
		d.endStreams(ErrDraining)
	}
	for {
		select {
		case <-d.stopped:
			d.endStreams(ErrDraining)
			return nil
		case <-grace:
			d.endStreams(ErrDraining)
			grace = nil
		case <-ctx.Done():
			d.endStreams(ErrDraining)
			inFlight := d.inFlight.Load()
			t.srv.Stop()
			return fmt.Errorf("%w with %d RPCs in flight: %w", ErrForced, inFlight, context.Cause(ctx))
		}
	}
}
