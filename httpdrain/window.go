package httpdrain

import "time"

// WithLameDuckWindow spreads the "Connection: close" of the lame-duck
// phase over d from the trigger: each HTTP/1 connection gets it on its
// first response after its turn, drawn at random within d of the phase's
// start, rather than all of them on their next response. Under keep-alive
// load, without a window, every client reconnects within one request of the
// trigger, and the servers that remain take all those connections at once,
// with their handshakes; with one, a few at a time (the model is Envoy's
// gradual drain strategy; [WithDrainWindow] does the same for streams from
// the drain's start).
//
// Keep d within the propagation delay, less the time the load balancer
// takes to stop sending new connections here. The drain does not wait for
// turns that have not come: it ends those connections as it would without
// the lame-duck phase's goodbye, a busy one after its response, an idle one
// at once, which a client sending on it in that instant sees fail (see
// "Idle keep-alive connections" in the package doc). HTTP/2 connections
// over TLS are not concerned: they get their GOAWAY at the drain;
// cleartext ones (h2c) get it at their turn. It costs what
// [WithMaxConnectionAge] costs.
//
// A d of 0 or less means no window: every connection is told on its next
// response after the trigger. That is the default.
func WithLameDuckWindow(d time.Duration) Option {
	return func(c *config) { c.lameWindow = max(d, 0) }
}

// turnCame reports whether a connection whose turn is turn, in the
// lame-duck phase, is told to close now.
func (d *Drainer) turnCame(turn time.Duration) bool {
	return turn == 0 || time.Since(d.lameAt) >= turn || d.isDraining()
}
