// Command grpc is the gRPC counterpart of examples/http: it serves the Work
// service (package workpb: a unary Do that waits a requested duration and
// records the request as one row in an SQLite database and one line in a
// buffered journal, a server-streaming Watch that sends an event every
// 100 ms until its context ends, and a server-streaming Page that sends a
// requested number of items and ends), the standard health service and
// server reflection. With -strategy lameduck (the default), a SIGTERM or a GET
// /prestop on the admin listener starts the shutdown sequence: readiness
// and the health service report not serving while the server keeps serving
// through -delay, then the server drains (GracefulStop, Watch streams told to
// end at once, Page streams and calls completed, Stop at the deadline), the
// database closes and the journal is flushed
// and synced, in that order, before -grace is over. However the process was
// terminated within its grace period, rows = journal lines = Do calls
// answered OK once it has exited.
//
// -strategy shutdown is the common pattern (GracefulStop at SIGTERM, Stop
// when the grace period is over); -strategy none handles no signal at all.
// They exist to compare.
//
// Usage:
//
//	grpc [-addr :8080] [-admin-addr :9090] [-grace 30s] [-delay 5s] [-data ./.data] [-strategy lameduck|shutdown|none] [-tls-cert FILE -tls-key FILE] [-max-conn-age 0] [-stream-end-window 0]
//
// -max-conn-age sends GOAWAY to connections older than the age (±10 %), so
// that clients spread onto copies that started later
// (grpcdrain.WithMaxConnectionAge); -stream-end-window ends the Watch
// streams one after another over the window from the start of the drain
// rather than all at once (grpcdrain.WithDrainWindow). Both are off (0)
// by default, and used only with -strategy lameduck.
//
// Without -tls-cert and -tls-key the traffic listener serves gRPC over
// plaintext HTTP/2. With both (PEM files, read once at start) it serves
// gRPC over TLS only (ALPN "h2"). One without the other is a usage error.
// The admin listener always serves plaintext HTTP/1.1, for the kubelet's
// probes and preStop hook.
//
// Every flag also comes from the environment: ADDR, ADMIN_ADDR,
// SHUTDOWN_GRACE_PERIOD, SHUTDOWN_PROPAGATION_DELAY, DATA_DIR, STRATEGY,
// TLS_CERT_FILE, TLS_KEY_FILE, MAX_CONNECTION_AGE, STREAM_END_WINDOW (a
// flag wins). SHUTDOWN_SAFETY_MARGIN and
// SHUTDOWN_PRESTOP_TOKEN are read by package shutdown. Once serving it writes
// "listening addr=HOST:PORT admin=HOST:PORT" to stderr; it exits 0 after a
// clean shutdown, and 1 when a step failed or a drain was forced at its
// deadline. Under -strategy none a SIGTERM kills it, except as PID 1 of a
// container, where it exits 2: the kernel does not apply the default action
// of the signal the Go runtime re-raises to a PID namespace's init
// (pid_namespaces(7)), and the runtime then exits 2.
package main

import (
	"errors"
	"net/http"
	"os"

	"github.com/lameduck/lameduck/examples/grpc/workpb"
	"github.com/lameduck/lameduck/examples/internal/cli"
	"github.com/lameduck/lameduck/examples/internal/metrics"
	"github.com/lameduck/lameduck/examples/internal/service"
	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/readiness"
	"github.com/lameduck/lameduck/shutdown"
)

func main() {
	os.Exit(service.Main("grpc", os.Args[1:], os.LookupEnv, os.Stderr, serve))
}

// serve runs the service with the termination strategy of its command line.
func serve(svc *service.Service) error {
	switch svc.Config.Strategy {
	case cli.Shutdown:
		return runShutdown(svc)
	case cli.None:
		return runNone(svc)
	default:
		return runLameduck(svc)
	}
}

// runLameduck is the wiring this example exists to show. At the first
// SIGTERM, SIGINT or GET /prestop: readiness fails and the health service
// goes NOT_SERVING while the server keeps serving through the delay; then
// the server drains (Watch streams, which never end by themselves, are
// told to end at once; accepted calls and Page streams complete), the
// database and the journal close, in the order they are added, and the
// admin listener closes last, within the grace period. A server that fails
// starts the same sequence and the process exits 1. The admin listener
// also serves the sequence's metrics.
func runLameduck(svc *service.Service) error {
	m := metrics.New()
	seq, err := shutdown.New(
		shutdown.WithGracePeriod(svc.Config.GracePeriod), // -grace, $SHUTDOWN_GRACE_PERIOD
		shutdown.WithPropagationDelay(svc.Config.Delay),  // -delay, $SHUTDOWN_PROPAGATION_DELAY
		shutdown.FromEnv(svc.ShutdownEnv()),              // SHUTDOWN_SAFETY_MARGIN, SHUTDOWN_PRESTOP_TOKEN
		shutdown.WithLogger(svc.Log),
		shutdown.WithObserver(m.Observe),
	)
	if err != nil {
		return errors.Join(err, svc.Abort())
	}
	m.Follow(seq)
	probe := readiness.New(seq)
	probe.AddCheck("db", svc.Store.Ping)
	// The probes, /prestop and /metrics, answered until the last step is done.
	seq.ServeAdmin(svc.ReleaseAdmin(), service.AdminHandler(probe, map[string]http.Handler{"/metrics": m.Handler()}))

	srv := grpcdrain.NewServer(seq,
		grpcdrain.WithServerOptions(serverOptions(svc)...),
		grpcdrain.WithEndlessStreams(workpb.Work_Watch_FullMethodName),
		grpcdrain.WithMaxConnectionAge(svc.Config.MaxConnAge),
		grpcdrain.WithDrainWindow(svc.Config.StreamEndWindow),
	)
	register(srv.Server, srv.Health(), svc.Store)
	m.InFlight("grpc", srv.InFlight)
	seq.Serve("grpc", func() error { return srv.Serve(svc.Listener) }, srv.Drain)
	seq.Go("jobs", svc.Store.RunJobs, shutdown.StopAfter("grpc")) // fed by the handlers: stops once they are done
	seq.AfterDrain("db", svc.Store.CloseDB)
	seq.AfterDrain("journal", svc.Store.CloseJournal)
	probe.SetReady()
	svc.Announce()
	return seq.Wait()
}
