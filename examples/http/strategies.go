package main

import (
	"github.com/lameduck/lameduck/examples/internal/service"
)

// runShutdown is the common pattern, for comparison: http.Server.Shutdown
// at SIGTERM with the grace period as its timeout, then the database and
// the journal. Readiness never fails and there is no /prestop, so
// connections routed here while endpoints propagate are refused once the
// listener is closed, and Shutdown closes keep-alive connections it sees
// idle although a client may be sending on them at that very moment.
func runShutdown(svc *service.Service) error {
	srv := newServer(svc.Store)
	return svc.RunShutdown(func() error { return srv.Serve(svc.Listener) }, srv.Shutdown)
}

// runNone handles no signal, for comparison: SIGTERM kills the process with
// requests in flight and the journal lines still in its buffer.
func runNone(svc *service.Service) error {
	srv := newServer(svc.Store)
	return svc.RunNone(func() error { return srv.Serve(svc.Listener) }, func() { srv.Close() })
}
