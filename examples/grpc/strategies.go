package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/lameduck/lameduck/examples/internal/service"
	"github.com/lameduck/lameduck/readiness"
)

// runShutdown is the common pattern, for comparison: at SIGTERM or SIGINT
// call GracefulStop, and Stop if it has not returned when the grace period
// is over; then close the database and flush the journal. Readiness and
// the health service never report not serving and there is no /prestop.
// GracefulStop waits for Watch streams, which only end when their context
// does, so with a stream open it always lasts the whole grace period, and
// Stop ends the streams with codes.Unavailable.
func runShutdown(svc *service.Service) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv, _ := newServer(svc.Store)
	var probe readiness.Probe
	svc.ServeAdmin(&probe, nil)
	svc.Go("grpc", func() error { return srv.Serve(svc.Listener) })
	probe.SetReady()
	svc.Announce()

	select {
	case <-ctx.Done():
		svc.Log.Info("signal received: shutting down")
	case <-svc.Failed():
	}
	stop()
	stopWithin(srv, svc.Config.GracePeriod)
	bg := context.Background()
	return errors.Join(svc.Store.CloseDB(bg), svc.Store.CloseJournal(bg), svc.Close())
}

// stopWithin calls GracefulStop, then Stop if GracefulStop has not returned
// within d.
func stopWithin(srv *grpc.Server, d time.Duration) {
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		srv.Stop()
		<-stopped
	}
}

// runNone handles no signal, for comparison: SIGTERM kills the process with
// RPCs in flight and the journal lines still in its buffer. It returns only
// if a server fails.
func runNone(svc *service.Service) error {
	srv, _ := newServer(svc.Store)
	var probe readiness.Probe
	svc.ServeAdmin(&probe, nil)
	svc.Go("grpc", func() error { return srv.Serve(svc.Listener) })
	probe.SetReady()
	svc.Announce()

	<-svc.Failed()
	srv.Stop()
	bg := context.Background()
	return errors.Join(svc.Store.CloseDB(bg), svc.Store.CloseJournal(bg), svc.Close())
}
