package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/lameduck/lameduck/readiness"
)

// RunShutdown runs the traffic server the common way, the -strategy
// shutdown a service is compared with: serve in a goroutine, readiness
// ready and never failing, no /prestop; at SIGTERM or SIGINT (or when a
// server fails) call stop with a context that expires after the grace
// period, then close the database and flush the journal, then the admin
// server. The job worker (store.RunJobs) stops at the signal, as such
// workers are usually written, so jobs accepted during the drain are lost.
// stop is http.Server.Shutdown or its gRPC equivalent. RunShutdown
// blocks until all of that is done and returns the errors joined.
func (s *Service) RunShutdown(serve func() error, stop func(context.Context) error) error {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	p := s.servePlain(serve)
	jobs := s.runJobs(ctx) // stops at the signal, the way such workers are usually written
	select {
	case <-ctx.Done():
		s.Log.Info("signal received: shutting down")
	case <-p.failed:
	}
	cancel() // a second signal kills the process, as it would without handling
	sctx, scancel := context.WithTimeout(context.Background(), s.Config.GracePeriod)
	defer scancel()
	return errors.Join(stop(sctx), <-jobs, s.closeStore(), p.close())
}

// RunNone runs the traffic server with no signal handling, the -strategy
// none a service is compared with: SIGTERM kills the process with requests
// in flight and journal lines in the buffer. RunNone returns only when a
// server fails: it then calls stop and closes the store and the admin
// server.
func (s *Service) RunNone(serve func() error, stop func()) error {
	p := s.servePlain(serve)
	ctx, cancel := context.WithCancel(context.Background())
	jobs := s.runJobs(ctx)
	<-p.failed
	stop()
	cancel()
	return errors.Join(<-jobs, s.closeStore(), p.close())
}

// runJobs runs the job worker (store.RunJobs) in a goroutine until ctx is
// done, and returns a channel that delivers its error once it has returned.
func (s *Service) runJobs(ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.Store.RunJobs(ctx) }()
	return done
}

// plain serves the traffic server and the admin server in goroutines
// without the shutdown sequence, for the strategies lameduck is compared
// with; failed closes at the first serving error.
type plain struct {
	svc        *Service
	admin      *http.Server
	wg         sync.WaitGroup
	failed     chan struct{}
	failedOnce sync.Once
	mu         sync.Mutex // guards errs
	errs       []error
}

// servePlain starts the admin server with a probe that is ready at once and
// never fails, starts serve, and announces the ports.
func (s *Service) servePlain(serve func() error) *plain {
	p := &plain{svc: s, failed: make(chan struct{})}
	var probe readiness.Probe
	p.admin = s.AdminServer(&probe, nil)
	p.goServe("admin", func() error { return p.admin.Serve(s.adminLn) })
	p.goServe("traffic", serve)
	probe.SetReady()
	s.Announce()
	return p
}

func (p *plain) goServe(name string, serve func() error) {
	p.wg.Go(func() {
		err := IgnoreClosed(serve())
		if err == nil {
			return
		}
		err = fmt.Errorf("serve %s: %w", name, err)
		p.svc.Log.Error("server failed", "server", name, "err", err)
		p.mu.Lock()
		p.errs = append(p.errs, err)
		p.mu.Unlock()
		p.failedOnce.Do(func() { close(p.failed) })
	})
}

// close closes the admin server, waits for the serving goroutines and
// returns their errors.
func (p *plain) close() error {
	err := p.admin.Close()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(append(p.errs, err)...)
}
