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
	"time"

	"github.com/lameduck/lameduck/examples/internal/cli"
	"github.com/lameduck/lameduck/examples/internal/store"
	"github.com/lameduck/lameduck/readiness"
)

// Service is a started example service before it serves: configuration,
// logger, open store and bound listeners. Create it with [Setup]; the
// strategy serves and ends it. Its methods are not safe for concurrent use.
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

	stderr        io.Writer
	adminLn       net.Listener
	adminReleased bool // ReleaseAdmin closed adminLn
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
	s := &Service{Config: cfg, LookupEnv: lookupEnv, Log: slog.New(slog.NewTextHandler(stderr, nil)), stderr: stderr}
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
// listeners and the store. Call it instead of serving.
func (s *Service) Abort() error {
	var adminErr error
	if !s.adminReleased {
		adminErr = s.adminLn.Close()
	}
	return errors.Join(s.Listener.Close(), adminErr, s.closeStore())
}

func (s *Service) closeStore() error {
	ctx := context.Background()
	return errors.Join(s.Store.CloseDB(ctx), s.Store.CloseJournal(ctx))
}

// AdminListener returns the admin listener, bound to Config.AdminAddr:
// the probes, /prestop and /metrics, in plaintext.
func (s *Service) AdminListener() net.Listener { return s.adminLn }

// ReleaseAdmin closes the admin listener and returns the address it was
// bound to, for a server that listens there itself: the lameduck
// strategy's shutdown.Sequence.ServeAdmin, which binds its address at the
// call. Setup bound the listener so that a busy port fails the start
// before anything serves, and so that -admin-addr 127.0.0.1:0 has a port
// to announce; the port is free only between this call and the next
// listen. [Service.Announce] still reports the address.
func (s *Service) ReleaseAdmin() string {
	addr := s.adminLn.Addr().String()
	_ = s.adminLn.Close()
	s.adminReleased = true
	return addr
}

// AdminHandler returns the admin handler: the probe's /readyz, /servingz,
// /livez and /startupz, and each handler of routes at its path (such as
// "/prestop" and "/metrics").
func AdminHandler(probe *readiness.Probe, routes map[string]http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", probe) // /readyz /servingz /livez /startupz
	for path, h := range routes {
		mux.Handle(path, h)
	}
	return mux
}

// AdminServer returns the admin HTTP server of the strategies lameduck is
// compared with, not yet serving: [AdminHandler]. Serve it on
// [Service.AdminListener] until after the traffic servers have drained, so
// that the kubelet's probes and preStop hook, and metrics scrapes, are
// answered to the end.
func (s *Service) AdminServer(probe *readiness.Probe, routes map[string]http.Handler) *http.Server {
	return &http.Server{Handler: AdminHandler(probe, routes), ReadHeaderTimeout: 10 * time.Second}
}

// ShutdownEnv returns the environment for shutdown.FromEnv: the service's,
// without SHUTDOWN_GRACE_PERIOD and SHUTDOWN_PROPAGATION_DELAY, which -grace
// and -delay read already, so that a flag given on the command line wins
// over its variable (FromEnv's variables override every option).
// SHUTDOWN_SAFETY_MARGIN and SHUTDOWN_PRESTOP_TOKEN pass through.
func (s *Service) ShutdownEnv() func(string) (string, bool) {
	return func(key string) (string, bool) {
		if key == "SHUTDOWN_GRACE_PERIOD" || key == "SHUTDOWN_PROPAGATION_DELAY" {
			return "", false
		}
		return s.LookupEnv(key)
	}
}

// IgnoreClosed returns err, or nil if it is http.ErrServerClosed: what a
// server's Serve returns once it was closed on purpose.
func IgnoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Announce writes the line "listening addr=HOST:PORT admin=HOST:PORT" to
// stderr. Call it once the servers' goroutines are started: the listeners
// are bound already, so a connection made after reading the line is served.
func (s *Service) Announce() {
	fmt.Fprintf(s.stderr, "listening addr=%s admin=%s\n", s.Listener.Addr(), s.adminLn.Addr())
}
