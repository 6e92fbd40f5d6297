package shutdown

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// adminReadHeaderTimeout bounds how long the admin listener waits for a
// request's header, so that an idle client cannot hold a connection open.
const adminReadHeaderTimeout = 10 * time.Second

// An admin is a listener served by ServeAdmin.
type admin struct {
	srv    *http.Server
	served chan struct{} // closed when its Serve call has returned
}

// ServeAdmin listens on addr (a host:port for net.Listen "tcp", such as
// ":9090") before it returns, and serves h there in a goroutine, with the
// /prestop handler ([Sequence.PrestopHandler]) mounted in front of it: a
// request for the path /prestop goes to the sequence, every other request
// to h. With a nil h, only /prestop is served and other paths get 404. It
// is the admin listener of a process: the kubelet's probes (a readiness
// Probe as h), its preStop hook, metrics.
//
// The listener stays up through the propagation delay, the drains and the
// after-drain steps, so that probes and scrapes are answered to the end:
// it is closed last, when [Sequence.Wait] has run every step and every
// /prestop answer is written, with requests in flight then given until the
// deadline to finish. It serves plain HTTP/1.1, as the kubelet's httpGet
// probes and hooks speak.
//
// A listen or serve failure is a failure of the process, as for a server
// run with [Sequence.Serve]: the sequence is triggered with it as its
// cause (source "error") and Wait returns it. ServeAdmin does not block
// beyond the listen. Called once Wait's sequence is finishing, it listens
// on nothing and logs an error. It may be called more than once, for
// several listeners.
func (s *Sequence) ServeAdmin(addr string, h http.Handler) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.Fail(fmt.Errorf("shutdown: admin: %w", err))
		return
	}
	prestop := s.PrestopHandler()
	a := &admin{
		srv: &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/prestop":
					prestop.ServeHTTP(w, r)
				case h != nil:
					h.ServeHTTP(w, r)
				default:
					http.NotFound(w, r)
				}
			}),
			ReadHeaderTimeout: adminReadHeaderTimeout,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		},
		served: make(chan struct{}),
	}
	s.mu.Lock()
	if s.finishing {
		s.mu.Unlock()
		_ = ln.Close()
		s.log.Error("shutdown: ServeAdmin called as the sequence finished; not serving", "addr", addr)
		return
	}
	s.admins = append(s.admins, a)
	s.mu.Unlock()
	s.log.Info("shutdown: admin listening", "addr", ln.Addr().String())
	go func() {
		defer close(a.served)
		if err := a.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.Fail(fmt.Errorf("shutdown: admin %s: %w", ln.Addr(), err))
		}
	}()
}

// closeAdmins shuts the admin listeners down, giving requests in flight
// until the deadline, and waits for their Serve calls to return. It runs
// once finishing is set, so that no listener is added meanwhile.
func (s *Sequence) closeAdmins() {
	s.mu.Lock()
	admins := s.admins
	s.mu.Unlock()
	if len(admins) == 0 {
		return
	}
	for _, a := range admins {
		_ = a.srv.Shutdown(s.runCtx) // closes the listener at once; waits for requests in flight until the deadline
		_ = a.srv.Close()
		<-a.served // Serve returns as soon as its listener is closed
	}
}
