package grpcdrain

import "errors"

var (
	// ErrDraining is the cause of a long-lived stream's context when the
	// drain cancels it: errors.Is(context.Cause(stream.Context()),
	// ErrDraining) tells a handler that the server, not the client, ended
	// the stream, so it can return nil and end the stream cleanly.
	ErrDraining = errors.New("grpcdrain: server is draining")

	// ErrForced is returned by [Drainer.Drain] when GracefulStop did not
	// finish before the context was done and the server was stopped with
	// Stop, failing the RPCs still in flight.
	ErrForced = errors.New("grpcdrain: graceful stop did not finish in time, server stopped")

	// ErrNotAttached is returned by [Drainer.Drain] before [Drainer.Attach]
	// was called.
	ErrNotAttached = errors.New("grpcdrain: no server attached")
)
