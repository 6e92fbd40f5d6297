package readiness

import (
	"context"
	"fmt"
	"net/http"
)

// Paths served by [Probe.Register].
const (
	ReadyzPath   = "/readyz"
	ServingzPath = "/servingz"
	LivezPath    = "/livez"
	StartupzPath = "/startupz"
)

// Register serves [Probe.ReadyzHandler], [Probe.ServingzHandler],
// [Probe.LivezHandler] and [Probe.StartupzHandler] on mux at [ReadyzPath],
// [ServingzPath], [LivezPath] and [StartupzPath]. Serve them on an admin
// listener that stays up until the process exits, not on the traffic port
// that drains.
func (p *Probe) Register(mux *http.ServeMux) {
	mux.Handle(ReadyzPath, p.ReadyzHandler())
	mux.Handle(ServingzPath, p.ServingzHandler())
	mux.Handle(LivezPath, p.LivezHandler())
	mux.Handle(StartupzPath, p.StartupzHandler())
}

// ReadyzHandler answers 200 "ok" when [Probe.Check] passes, and 503 with
// the reason ("readiness: not ready: lame duck") otherwise: it fails at
// the trigger, whatever triggered the sequence. It is for load balancers
// that probe the pods themselves (HAProxy, Envoy with active health
// checks), for which a failing probe is the only sign that the process is
// leaving.
func (p *Probe) ReadyzHandler() http.Handler { return p.handler(p.Check) }

// ServingzHandler answers 200 "ok" when [Probe.Serving] passes, and 503
// with the reason otherwise. It is for the kubelet's readinessProbe. The
// kubelet keeps probing readiness while a pod terminates, and the probe
// sets the EndpointSlice's serving condition; kube-proxy sends new
// connections to terminating endpoints that are still serving when a
// Service has no ready endpoint (a single replica, a scale to zero, a node
// drained under externalTrafficPolicy: Local). The deletion itself already
// made the endpoint not ready, so after a termination this handler keeps
// passing until the drains start, keeping that fallback while the process
// still serves. After any other trigger (a failure, a trigger from code)
// the pod is not being deleted and only a failing probe takes it out of
// rotation, so it fails at once.
func (p *Probe) ServingzHandler() http.Handler { return p.handler(p.Serving) }

// handler answers 200 when check passes and the sequence, if it tracks
// readiness ([ReadinessTracker]), may be told that the process is ready.
func (p *Probe) handler(check func(context.Context) error) http.Handler {
	report := p.track()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := check(r.Context())
		if !report(err == nil) && err == nil {
			err = fmt.Errorf("%w: %s", ErrNotReady, LameDuck) // triggered before it was ever ready
		}
		if err != nil {
			reply(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		reply(w, http.StatusOK, "ok")
	})
}

// track tells the Lifecycle, once, that this Probe reports readiness, and
// returns the function to call before each answer.
func (p *Probe) track() func(ready bool) bool {
	p.trackOnce.Do(func() {
		if p.tracker != nil {
			p.report = p.tracker.TrackReadiness()
		}
		if p.report == nil {
			p.report = func(ready bool) bool { return ready }
		}
	})
	return p.report
}

// LivezHandler answers 200 "ok" in every state, lame duck included: a
// process that is shutting down on purpose must not be restarted for it.
func (p *Probe) LivezHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, "ok")
	})
}

// StartupzHandler answers 503 "starting" until [Probe.SetReady] is called
// and 200 "ok" after it, lame duck included. A process that leaves before
// it ever started keeps answering 503.
func (p *Probe) StartupzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.Started() {
			reply(w, http.StatusServiceUnavailable, "starting")
			return
		}
		reply(w, http.StatusOK, "ok")
	})
}

func reply(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}
