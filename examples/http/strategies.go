package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/lameduck/lameduck/examples/internal/service"
	"github.com/lameduck/lameduck/readiness"
)

// runShutdown is the common pattern, for comparison: at SIGTERM or SIGINT
// call Shutdown with the grace period as its timeout, then close the
// database and flush the journal. Readiness never fails and there is no
// /prestop, so connections routed here during endpoint propagation are
// refused once the listener is closed, and Shutdown closes idle keep-alive
// connections that a client may be reusing at that very moment.
func runShutdown(svc *service.Service) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv := newServer(svc.Store)
	var probe readiness.Probe
	svc.ServeAdmin(&probe, nil)
	svc.Go("http", func() error { return srv.Serve(svc.Listener) })
	probe.SetReady()
	svc.Announce()

	select {
	case <-ctx.Done():
		svc.Log.Info("signal received: shutting down")
	case <-svc.Failed():
	}
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), svc.Config.GracePeriod)
	defer cancel()
	return errors.Join(
		srv.Shutdown(sctx),
		svc.Store.CloseDB(sctx),
		svc.Store.CloseJournal(sctx),
		svc.Close(),
	)
}

// runNone handles no signal, for comparison: SIGTERM kills the process with
// requests in flight and the journal lines still in its buffer. It returns
// only if a server fails.
func runNone(svc *service.Service) error {
	srv := newServer(svc.Store)
	var probe readiness.Probe
	svc.ServeAdmin(&probe, nil)
	svc.Go("http", func() error { return srv.Serve(svc.Listener) })
	probe.SetReady()
	svc.Announce()

	<-svc.Failed()
	ctx := context.Background()
	return errors.Join(srv.Close(), svc.Store.CloseDB(ctx), svc.Store.CloseJournal(ctx), svc.Close())
}
