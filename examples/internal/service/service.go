// Package service holds what the lameduck example services (examples/http,
// examples/grpc) share around their servers: the parsed command line (package
// cli), a slog logger, the store (package store), the two listeners, the
// admin HTTP server with the probes of package readiness and the /prestop
// handler of package shutdown, and the "listening" line a parent process
// reads to learn the ports; and the two strategies the lameduck wiring is
// compared with ([Service.RunShutdown], [Service.RunNone]). The lameduck
// wiring itself stays in each service's main.go, where a reader expects it.
package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lameduck/lameduck/examples/internal/cli"
	"github.com/lameduck/lameduck/examples/internal/store"
	"github.com/lameduck/lameduck/readiness"
)

// Service is a started example service before it serves: configuration,
// logger, open store and bound listeners. Create it with [Setup]; end it
// with [Service.Close]. Its methods are not safe for concurrent use, except
// as documented.
type Service struct {
	Config    cli.Config
	LookupEnv func(string) (string, bool) // the environment Setup read
	Log       *slog.Logger
	Store     *store.Store
	// Listener is the traffic listener, bound to Config.Addr. Setup leaves
	// it plain TCP even with TLS: the service wraps it (tls.NewListener) or
	// gives TLS to its server (grpc.Creds).
	Listener net.Listener
	// TLS is the traffic listener's TLS configuration when -tls-cert and
	// -tls-key are given, nil otherwise: the certificate is loaded once by
	// Setup, and NextProtos is left for the service to set (ALPN: "h2" and
	// "http/1.1" for HTTP, "h2" for gRPC). The admin listener never serves
	// TLS: the kubelet's httpGet probes and preStop hook speak HTTP.
	TLS *tls.Config

	stderr  io.Writer
	adminLn net.Listener
	admin   *http.Server

	wg         sync.WaitGroup
	failed     chan struct{} // closed at the first serving error
	failedOnce sync.Once
	mu         sync.Mutex // guards errs, written by serving goroutines
	errs       []error
}

// Setup parses args and the environment (see cli.Parse), loads the TLS
// certificate and key if given, opens the store and binds both listeners. It logs to stderr. On error, everything it
// opened is closed again; the error wraps cli.ErrUsage or flag.ErrHelp when
// the command line is at fault.
func Setup(name string, args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (*Service, error) {
	cfg, err := cli.Parse(name, args, lookupEnv, stderr)
	if err != nil {
		return nil, err
	}
	s := &Service{Config: cfg, LookupEnv: lookupEnv, Log: slog.New(slog.NewTextHandler(stderr, nil)), stderr: stderr, failed: make(chan struct{})}
	if cfg.TLS() {
		// Loaded before anything is opened, so that a bad file fails the
		// start instead of every handshake.
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("service: -tls-cert %q -tls-key %q: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if s.Store, err = store.Open(cfg.DataDir); err != nil {
		return nil, err
	}
	if s.Listener, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, errors.Join(fmt.Errorf("listen -addr: %w", err), s.closeStore())
	}
	if s.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
		return nil, errors.Join(fmt.Errorf("listen -admin-addr: %w", err), s.Listener.Close(), s.closeStore())
	}
	return s, nil
}

// Abort undoes [Setup] when the service cannot start: it closes the
// listeners and the store. Call it instead of serving, never after
// [Service.ServeAdmin] or [Service.Go].
func (s *Service) Abort() error {
	return errors.Join(s.Listener.Close(), s.adminLn.Close(), s.closeStore())
}

func (s *Service) closeStore() error {
	ctx := context.Background()
	return errors.Join(s.Store.CloseDB(ctx), s.Store.CloseJournal(ctx))
}

// ServeAdmin starts the admin HTTP server: the probe's /readyz, /livez and
// /startupz, and prestop on /prestop unless it is nil. The admin server runs
// until [Service.Close], after the traffic server has drained, so that the
// kubelet's probes and preStop hook are answered to the very end.
func (s *Service) ServeAdmin(probe *readiness.Probe, prestop http.Handler) {
	mux := http.NewServeMux()
	probe.Register(mux)
	if prestop != nil {
		mux.Handle("/prestop", prestop)
	}
	s.admin = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.Go("admin", func() error { return s.admin.Serve(s.adminLn) })
}

// Go runs serve in a goroutine that [Service.Close] waits for. An error from
// serve other than http.ErrServerClosed is logged, returned by Close, and
// closes [Service.Failed]. Go may be called from any goroutine before Close.
func (s *Service) Go(name string, serve func() error) {
	s.wg.Go(func() {
		err := serve()
		if err == nil || errors.Is(err, http.ErrServerClosed) {
			return
		}
		err = fmt.Errorf("serve %s: %w", name, err)
		s.Log.Error("server failed", "server", name, "err", err)
		s.mu.Lock()
		s.errs = append(s.errs, err)
		s.mu.Unlock()
		s.failedOnce.Do(func() { close(s.failed) })
	})
}

// TriggerOnFailure starts a goroutine that calls trigger("server failed")
// if a server fails (see [Service.Failed]), so that the shutdown sequence
// drains and the process exits instead of half-serving. The goroutine ends
// when done is closed or after calling trigger. With package shutdown:
// svc.TriggerOnFailure(seq.Trigger, seq.Done()).
func (s *Service) TriggerOnFailure(trigger func(source string), done <-chan struct{}) {
	go func() {
		select {
		case <-s.failed:
			trigger("server failed")
		case <-done:
		}
	}()
}

// Failed returns a channel closed when a server started by [Service.Go] or
// [Service.ServeAdmin] has failed. The strategy should then shut down, so
// the process does not go on half-serving.
func (s *Service) Failed() <-chan struct{} { return s.failed }

// Announce writes the line "listening addr=HOST:PORT admin=HOST:PORT" to
// stderr. Call it once the servers' goroutines are started: the listeners
// are bound already, so a connection made after reading the line is served.
func (s *Service) Announce() {
	fmt.Fprintf(s.stderr, "listening addr=%s admin=%s\n", s.Listener.Addr(), s.adminLn.Addr())
}

// Close closes the admin server, waits for every goroutine started by
// [Service.Go] and returns the serving errors joined. It does not close the
// store or stop the traffic server: the termination strategy does that.
func (s *Service) Close() error {
	var err error
	if s.admin != nil {
		err = s.admin.Close()
	} else {
		err = s.adminLn.Close()
	}
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(append(s.errs, err)...)
}
