// Command http is a small HTTP service written the way users write them, to
// show and measure lameduck: /work?d=DURATION (any method) waits d, records
// the request as one row in an SQLite database and one line in a buffered
// journal file, and answers 200. With -strategy lameduck (the default), a
// SIGTERM or a GET /prestop on the admin listener starts the shutdown
// sequence: readiness fails, the server keeps serving through -delay, then
// the server drains, the database closes and the journal is flushed and
// synced, in that order, before -grace is over. However the process was
// terminated within its grace period, rows = journal lines = requests
// answered 200 once it has exited.
//
// -strategy shutdown is the common pattern (http.Server.Shutdown at
// SIGTERM); -strategy none handles no signal at all. They exist to compare.
//
// Usage:
//
//	http [-addr :8080] [-admin-addr :9090] [-grace 30s] [-delay 5s] [-data ./.data] [-strategy lameduck|shutdown|none] [-tls-cert FILE -tls-key FILE] [-max-conn-age 0] [-stream-end-window 0]
//
// -max-conn-age ends HTTP/1 keep-alive connections older than the age
// (±10 %) with "Connection: close" on a response, so that clients spread
// onto copies that started later (httpdrain.WithMaxConnectionAge);
// -stream-end-window spreads the lame-duck phase's "Connection: close" over
// the window from the trigger, so that keep-alive clients do not all
// reconnect at once (httpdrain.WithLameDuckWindow). Both are off
// (0) by default, and used only with -strategy lameduck.
//
// Without -tls-cert and -tls-key the traffic listener serves HTTP/1.1 and
// h2c. With both (PEM files, read once at start) it serves TLS only, with
// HTTP/2 or HTTP/1.1 chosen by ALPN ("h2", "http/1.1"); h2c is then off.
// One without the other is a usage error. The admin listener always
// serves plaintext HTTP/1.1, for the kubelet's probes and preStop hook.
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
	"crypto/tls"
	"errors"
	"net/http"
	"os"

	"github.com/lameduck/lameduck/examples/internal/cli"
	"github.com/lameduck/lameduck/examples/internal/metrics"
	"github.com/lameduck/lameduck/examples/internal/service"
	"github.com/lameduck/lameduck/httpdrain"
	"github.com/lameduck/lameduck/readiness"
	"github.com/lameduck/lameduck/shutdown"
)

func main() {
	os.Exit(service.Main("http", os.Args[1:], os.LookupEnv, os.Stderr, serve))
}

// serve runs the service with the termination strategy of its command line.
// With -tls-cert and -tls-key the traffic listener is wrapped to serve TLS
// first: every strategy then serves HTTPS, and http.Server.Serve speaks
// HTTP/2 on the connections whose ALPN chose "h2" and HTTP/1.1 on the rest
// (net/http: "HTTP/2 support is only enabled if the Listener returns
// *tls.Conn connections and they were configured with "h2" in the TLS
// Config.NextProtos").
func serve(svc *service.Service) error {
	if svc.TLS != nil {
		svc.Listener = tls.NewListener(svc.Listener, tlsConfig(svc.TLS))
	}
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
// SIGTERM, SIGINT or GET /prestop: readiness fails and HTTP/1 responses
// carry "Connection: close" while the server keeps serving through the
// delay; then the server drains, the database and the journal close, in
// the order they are added, and the admin listener closes last, within the
// grace period. A server that fails starts the same sequence and the
// process exits 1. The admin listener also serves the sequence's metrics.
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

	srv := newServer(svc.Store)
	drain := httpdrain.New(srv, seq,
		httpdrain.WithLogger(svc.Log),
		httpdrain.WithMaxConnectionAge(svc.Config.MaxConnAge),
		httpdrain.WithLameDuckWindow(svc.Config.StreamEndWindow),
	)
	m.InFlight("http", drain.InFlight)
	seq.Serve("http", func() error { return srv.Serve(svc.Listener) }, drain.Drain)
	seq.Go("jobs", svc.Store.RunJobs, shutdown.StopAfter("http")) // fed by the handlers: stops once they are done
	seq.AfterDrain("db", svc.Store.CloseDB)
	seq.AfterDrain("journal", svc.Store.CloseJournal)
	probe.SetReady()
	svc.Announce()
	return seq.Wait()
}
