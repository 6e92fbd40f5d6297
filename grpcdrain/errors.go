package grpcdrain

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	// ErrDraining is the cause of a stream's context when the drain tells
	// the stream to end: errors.Is(context.Cause(stream.Context()),
	// ErrDraining) tells a handler that the server, not the client, ended
	// the stream.
	ErrDraining = errors.New("grpcdrain: server is draining")

	// ErrForced is returned by [Server.Drain] when GracefulStop did not
	// finish before the context was done and the server was stopped with
	// Stop, failing the RPCs still in flight.
	ErrForced = errors.New("grpcdrain: graceful stop did not finish in time, server stopped")
)

// errStreamEnded is the status of a stream the drain ended: what RecvMsg
// returns once the drain told the stream to end, and what the client gets
// whatever the handler returned then.
var errStreamEnded = status.Error(codes.Unavailable, ErrDraining.Error()+": stream ended before completion, retry on another server")
