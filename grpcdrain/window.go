package grpcdrain

import (
	"context"
	"sync/atomic"
	"time"
)

// notice tells a class of streams to end: its context is cancelled with
// ErrDraining when the drain tells them, and each stream is then told at
// its turn in the window, so that their clients do not all reconnect to
// the remaining servers at once (the model is Envoy's gradual drain
// strategy).
type notice struct {
	ctx     context.Context // cancelled with ErrDraining by open
	cancel  context.CancelCauseFunc
	streams atomic.Int64 // handlers of the class running
	window  endWindow    // set by open before it cancels ctx; read after
}

func newNotice() *notice {
	n := &notice{}
	n.ctx, n.cancel = context.WithCancelCause(context.Background())
	return n
}

// open tells the streams of the class to end, spread from now until end
// (at once if end is not after now).
func (n *notice) open(now, end time.Time) {
	n.window.start, n.window.end = now, end
	n.window.open = n.streams.Load()
	n.cancel(ErrDraining)
}

// endWindow spreads the notice to the streams still open over a window.
type endWindow struct {
	start, end time.Time
	open       int64        // streams open when the window started
	told       atomic.Int64 // streams given their turn so far
}

// next returns how long from now the next stream is told to end: the
// streams open at the start are told one after another, evenly spaced
// from the start of the window on; later ones at its end.
func (w *endWindow) next(now time.Time) time.Duration {
	i := w.told.Add(1) - 1
	at := w.end
	if i < w.open {
		at = w.start.Add(time.Duration(float64(w.end.Sub(w.start)) * float64(i) / float64(w.open)))
	}
	return at.Sub(now)
}

// endStream tells one stream to end: at once without a window (the health
// Watch streams, w nil), else at its turn in w.
func endStream(cancel context.CancelCauseFunc, w *endWindow) {
	if w != nil {
		if d := w.next(time.Now()); d > 0 {
			time.AfterFunc(d, func() { cancel(ErrDraining) })
			return
		}
	}
	cancel(ErrDraining)
}
