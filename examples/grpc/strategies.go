package main

import (
	"context"

	"google.golang.org/grpc"

	"github.com/lameduck/lameduck/examples/internal/service"
)

// runShutdown is the common pattern, for comparison: GracefulStop at
// SIGTERM, and Stop if it has not returned when the grace period is over;
// then the database and the journal. Readiness and the health service never
// report not serving and there is no /prestop. GracefulStop waits for Watch
// streams, which only end when their context does, so with a stream open it
// always lasts the whole grace period, and Stop then ends the streams with
// codes.Unavailable.
func runShutdown(svc *service.Service) error {
	srv := newServer(svc)
	return svc.RunShutdown(func() error { return srv.Serve(svc.Listener) }, func(ctx context.Context) error {
		stopBy(ctx, srv)
		return nil
	})
}

// stopBy calls GracefulStop, then Stop if GracefulStop has not returned when
// ctx is done.
func stopBy(ctx context.Context, srv *grpc.Server) {
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		srv.Stop()
		<-stopped
	}
}

// runNone handles no signal, for comparison: SIGTERM kills the process with
// RPCs in flight and the journal lines still in its buffer.
func runNone(svc *service.Service) error {
	srv := newServer(svc)
	return svc.RunNone(func() error { return srv.Serve(svc.Listener) }, srv.Stop)
}
