package service

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/lameduck/lameduck/readiness"
)

// RunShutdown runs the traffic server the common way, the -strategy
// shutdown a service is compared with: serve in a goroutine, readiness
// ready and never failing, no /prestop; at SIGTERM or SIGINT (or when a
// server fails) call stop with a context that expires after the grace
// period, then close the database and flush the journal, then the admin
// server. stop is http.Server.Shutdown or its gRPC equivalent. RunShutdown
// blocks until all of that is done and returns the errors joined.
func (s *Service) RunShutdown(serve func() error, stop func(context.Context) error) error {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	s.servePlain(serve)
	select {
	case <-ctx.Done():
		s.Log.Info("signal received: shutting down")
	case <-s.Failed():
	}
	cancel() // a second signal kills the process, as it would without handling
	sctx, scancel := context.WithTimeout(context.Background(), s.Config.GracePeriod)
	defer scancel()
	return errors.Join(stop(sctx), s.closeStore(), s.Close())
}

// RunNone runs the traffic server with no signal handling, the -strategy
// none a service is compared with: SIGTERM kills the process with requests
// in flight and journal lines in the buffer. RunNone returns only when a
// server fails: it then calls stop and closes the store and the admin
// server.
func (s *Service) RunNone(serve func() error, stop func()) error {
	s.servePlain(serve)
	<-s.Failed()
	stop()
	return errors.Join(s.closeStore(), s.Close())
}

// servePlain starts the admin server with a probe that is ready at once and
// never drains, starts serve, and announces the ports.
func (s *Service) servePlain(serve func() error) {
	var probe readiness.Probe
	s.ServeAdmin(&probe, nil)
	s.Go("traffic", serve)
	probe.SetReady()
	s.Announce()
}
