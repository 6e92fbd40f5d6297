package httpdrain

import "net/http"

// Middleware returns next wrapped with the Drainer's per-request work:
// it counts the request in [Drainer.InFlight] and, once the trigger channel
// is closed or [Drainer.Drain] has started, adds "Connection: close" to the
// response (with [WithRejectWhileDraining], it answers 503 instead once
// Drain has started). It does not allocate before the trigger.
//
// [New] already wraps srv.Handler; use Middleware only for a handler that
// New did not wrap, such as one installed on srv after New. Wrapping a
// handler twice counts its requests twice.
func (d *Drainer) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Two single-case selects compile to non-blocking receives, a
		// few loads each; a two-case select would lock both channels.
		if isDone(d.triggered) || isDone(d.draining) {
			if d.lameDuck(w, r) {
				return
			}
		}
		n := d.reqs.enter(r)
		defer n.Add(-1)
		next.ServeHTTP(w, r)
	})
}

// lameDuck asks the client to close the connection after this response,
// and answers 503 if it must reject the request. It reports whether it did.
func (d *Drainer) lameDuck(w http.ResponseWriter, r *http.Request) (rejected bool) {
	h := w.Header()
	// HTTP/1.1 closes the connection after the response; HTTP/2 turns the
	// header into a graceful GOAWAY (h2_bundle.go, writeChunk).
	h.Set("Connection", "close")
	if !d.cfg.reject || !isDone(d.draining) || d.cfg.exempt[r.URL.Path] {
		return false
	}
	h.Set("Retry-After", d.cfg.retryAfter)
	http.Error(w, "httpdrain: server is shutting down, retry later", http.StatusServiceUnavailable)
	return true
}
