package httpdrain

import "net/http"

// Middleware returns next wrapped with the Drainer's per-request work:
// it counts the request in [Drainer.InFlight] and, once the lame-duck phase
// has started (at the lifecycle's trigger), adds "Connection: close" to HTTP/1
// responses (with [WithRejectWhileDraining], it answers 503 instead once
// Drain has started). It does not allocate before the trigger.
//
// [New] already wraps srv.Handler; use Middleware only for a handler that
// New did not wrap, such as one installed on srv after New (set srv.Handler
// to d.Middleware(h) itself, not to a wrapper around it, or the Drainer
// reports the server as bypassing it). Wrapping a handler twice counts its
// requests twice.
func (d *Drainer) Middleware(next http.Handler) http.Handler {
	return &middleware{d: d, next: next}
}

// middleware is a struct rather than a closure in an http.HandlerFunc:
// one indirect call per request instead of two.
type middleware struct {
	d    *Drainer
	next http.Handler
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// An atomic load: a receive from the trigger channel costs several
	// times as much (runtime.chanrecv; BenchmarkMiddleware).
	if !m.d.sawRequest.Load() {
		m.d.sawRequest.Store(true)
		m.d.checkBypass()
		m.d.checkCarried(r)
	}
	closing := false
	if lame := m.d.lame.Load(); lame || m.d.cfg.perConn {
		var rejected bool
		if closing, rejected = m.d.goodbye(w, r, lame); rejected {
			return
		}
	}
	n := m.d.reqs.enter(r)
	defer n.Add(-1) // also when the handler panics (http.ErrAbortHandler)
	m.next.ServeHTTP(w, r)
	if closing {
		lingerIfPipelined(w, r)
	}
}

// goodbye asks the client to close the connection after this response
// when its time has come, and answers 503 if it must reject the request.
// It reports whether it did each.
func (d *Drainer) goodbye(w http.ResponseWriter, r *http.Request, lame bool) (closing, rejected bool) {
	if closing = d.closes(r, lame); closing {
		w.Header().Set("Connection", "close")
	}
	if !lame || !d.cfg.reject || !d.isDraining() || d.cfg.isExempt(r) {
		return closing, false
	}
	if d.cfg.retryHeader != "" {
		w.Header().Set("Retry-After", d.cfg.retryHeader)
	}
	http.Error(w, "httpdrain: server is shutting down, retry later", http.StatusServiceUnavailable)
	return closing, true
}

// closes reports whether r's response must carry "Connection: close".
//
// HTTP/1.1 closes the connection after the response. HTTP/2 turns the
// header into a graceful GOAWAY (h2_bundle.go, writeChunk), a single one
// that refuses the streams the client opens meanwhile (see the package
// doc): over TLS, one per connection, sent by Shutdown at the drain, is
// enough, and connections are not recycled. Cleartext HTTP/2 (h2c) gets it
// in the lame-duck phase: the drain cannot tell an h2c connection from an
// idle HTTP/1 one, and would close it outright, failing a stream the
// client sends in that instant.
func (d *Drainer) closes(r *http.Request, lame bool) bool {
	h1 := r.ProtoMajor == 1
	if !h1 && (!lame || r.TLS != nil) {
		return false
	}
	if !d.cfg.perConn {
		return true // lame
	}
	ci := connInfoOf(r)
	if ci == nil {
		// srv.ConnContext was replaced after New: nothing to go by.
		return lame
	}
	spent := h1 && ci.spent(d.cfg, d.clock.now.Load())
	return spent || lame && d.turnCame(ci.turn)
}

// isDraining reports whether Drain has started.
func (d *Drainer) isDraining() bool {
	select {
	case <-d.draining:
		return true
	default:
		return false
	}
}
