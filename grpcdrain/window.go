package grpcdrain

import (
	"context"
	"sync/atomic"
	"time"
)

// endWindow spreads the notice to the streams still open over a window,
// so that their clients do not all reconnect to the remaining servers at
// once (the model is Envoy's gradual drain strategy). The drain sets it
// before it cancels streamNotice; the streams read it after.
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

// endStream tells one stream to end: at once for the health Watch
// streams (spread false) and when there is no window, else at its turn in
// the window.
func (s *Server) endStream(cancel context.CancelCauseFunc, spread bool) {
	if spread {
		if d := s.window.next(time.Now()); d > 0 {
			time.AfterFunc(d, func() { cancel(ErrDraining) })
			return
		}
	}
	cancel(ErrDraining)
}

// openWindow tells the streams still open to end, spread until end (at
// once if end is not after now).
func (s *Server) openWindow(now, end time.Time) {
	s.window.start, s.window.end = now, end
	s.window.open = s.streams.Load()
	s.endStreams(ErrDraining)
}
