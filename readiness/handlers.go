package readiness

import (
	"context"
	"fmt"
	"net/http"
)

// ServeHTTP answers the kubelet's probes and the load balancers' health
// checks, by the request's path, whatever its method:
//
//   - /readyz: 200 "ok" when [Probe.Check] passes, 503 with the reason
//     ("readiness: not ready: lame duck") otherwise. It fails at the
//     trigger, whatever triggered the sequence: it is for load balancers
//     that probe the pods themselves (HAProxy, Envoy with active health
//     checks), for which a failing probe is the only sign that the
//     process is leaving.
//   - /servingz: 200 "ok" when [Probe.Serving] passes, 503 with the reason
//     otherwise. It is for the kubelet's readinessProbe. The kubelet keeps
//     probing readiness while a pod terminates, and the probe sets the
//     EndpointSlice's serving condition; kube-proxy sends new connections
//     to terminating endpoints that are still serving when a Service has
//     no ready endpoint (a single replica, a scale to zero, a node drained
//     under externalTrafficPolicy: Local). The deletion itself already
//     made the endpoint not ready, so after a termination /servingz keeps
//     passing until the drains start, keeping that fallback while the
//     process still serves. After any other trigger (a failure, a trigger
//     from code) the pod is not being deleted and only a failing probe
//     takes it out of rotation, so it fails at once.
//   - /livez: 200 "ok" in every state, lame duck included: a process that
//     is shutting down on purpose must not be restarted for it. It runs no
//     check.
//   - /startupz: 503 "starting" until [Probe.SetReady] is called, 200 "ok"
//     after it, lame duck included. A process that leaves before it ever
//     started keeps answering 503.
//   - any other path: 404.
//
// Serve it on an admin listener that stays up until the process exits, not
// on the traffic port that drains: shutdown's ServeAdmin(":9090", probe),
// or mux.Handle("/", probe) on a mux of your own; mux.Handle("GET
// /readyz", probe) serves one of the paths alone. Answers are plain text
// and not cached. A /readyz or /servingz answer runs the checks of
// [Probe.AddCheck] with the request's context, so it blocks as long as
// they do; it is reported to the sequence first if the sequence tracks
// readiness (see [ReadinessTracker]). /livez and /startupz never block.
func (p *Probe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/readyz":
		p.answer(w, r, p.Check)
	case "/servingz":
		p.answer(w, r, p.Serving)
	case "/livez":
		reply(w, http.StatusOK, "ok")
	case "/startupz":
		if !p.Started() {
			reply(w, http.StatusServiceUnavailable, "starting")
			return
		}
		reply(w, http.StatusOK, "ok")
	default:
		http.NotFound(w, r)
	}
}

// answer answers 200 when check passes and the sequence, if it tracks
// readiness, may be told that the process is ready.
func (p *Probe) answer(w http.ResponseWriter, r *http.Request, check func(context.Context) error) {
	err := check(r.Context())
	if !p.report(err == nil) && err == nil {
		err = fmt.Errorf("%w: %s", ErrNotReady, LameDuck) // triggered before it was ever ready
	}
	if err != nil {
		reply(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	reply(w, http.StatusOK, "ok")
}

func reply(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}
