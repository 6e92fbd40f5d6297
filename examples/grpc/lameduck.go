package main

import (
	"errors"

	"github.com/lameduck/lameduck/examples/internal/service"
	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/readiness"
	"github.com/lameduck/lameduck/shutdown"
)

// runLameduck is the wiring this example exists to show. At the first
// SIGTERM, SIGINT or GET /prestop: readiness fails and the health service
// goes NOT_SERVING while the server keeps serving through the delay; then
// the server drains, the database closes and the journal is flushed and
// synced, in the order the steps are added, within the grace period.
func runLameduck(svc *service.Service) error {
	seq, err := shutdown.New(
		shutdown.FromEnv(svc.LookupEnv), // SHUTDOWN_SAFETY_MARGIN, SHUTDOWN_PRESTOP_TOKEN
		shutdown.WithGracePeriod(svc.Config.GracePeriod),
		shutdown.WithPropagationDelay(svc.Config.Delay),
		shutdown.WithLogger(svc.Log),
	)
	if err != nil {
		return errors.Join(err, svc.Abort())
	}
	var probe readiness.Probe
	probe.DrainWhen(seq.Triggered())
	probe.AddCheck("db", svc.Store.Ping)

	drain, err := grpcdrain.New(seq.Triggered())
	if err != nil {
		return errors.Join(err, svc.Abort())
	}
	srv, hs := newServer(svc.Store, drain.ServerOptions()...)
	drain.Attach(srv, hs)
	seq.Add("grpc", drain.Drain)
	seq.Add("db", svc.Store.CloseDB)
	seq.Add("journal", svc.Store.CloseJournal)

	svc.ServeAdmin(&probe, seq.PrestopHandler())
	svc.Go("grpc", func() error { return srv.Serve(svc.Listener) })
	svc.TriggerOnFailure(seq.Trigger, seq.Done())
	probe.SetReady()
	svc.Announce()
	return errors.Join(seq.Wait(), svc.Close())
}
