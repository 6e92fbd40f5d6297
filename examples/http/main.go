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
//	http [-addr :8080] [-admin-addr :9090] [-grace 30s] [-delay 5s] [-data ./.data] [-strategy lameduck|shutdown|none]
//
// Every flag also comes from the environment: ADDR, ADMIN_ADDR,
// SHUTDOWN_GRACE_PERIOD, SHUTDOWN_PROPAGATION_DELAY, DATA_DIR, STRATEGY
// (a flag wins). SHUTDOWN_SAFETY_MARGIN and SHUTDOWN_PRESTOP_TOKEN are read
// by package shutdown. Once serving it writes
// "listening addr=HOST:PORT admin=HOST:PORT" to stderr; it exits 0 after a
// clean shutdown.
package main

import (
	"os"

	"github.com/lameduck/lameduck/examples/internal/cli"
	"github.com/lameduck/lameduck/examples/internal/service"
)

func main() {
	os.Exit(service.Main("http", os.Args[1:], os.LookupEnv, os.Stderr, serve))
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
