package shutdown

import (
	"crypto/subtle"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// PrestopHandler returns the handler for a preStop httpGet hook, usually
// served at /prestop on the admin port:
//
//	lifecycle:
//	  preStop:
//	    httpGet: {path: /prestop, port: admin}
//
// A GET or HEAD triggers the sequence (source "prestop") and answers 200
// once the propagation delay since the trigger has elapsed, so that the
// kubelet's SIGTERM, sent when the hook returns, arrives when the drain is
// due. It never waits longer than the delay, returns at once if the delay
// is already over, and returns early if the client goes away: the kubelet
// sets no timeout on the hook and never cancels it. It also returns when a
// signal arrives while it waits, the sign that the kubelet stopped waiting
// for the hook (see the package doc). Repeated and concurrent calls are
// harmless and start one sequence.
//
// Other methods get 405. With [WithPrestopToken], a request without
// "Authorization: Bearer <token>" gets 401, one with the wrong token 403,
// and neither triggers anything. The kubelet ignores the status code, so
// these are for humans and scripts reading them.
func (s *Sequence) PrestopHandler() http.Handler { return http.HandlerFunc(s.servePrestop) }

func (s *Sequence) servePrestop(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.refusePrestop(w, r, http.StatusMethodNotAllowed, "shutdown: /prestop takes GET (lifecycle.preStop.httpGet)")
		return
	}
	if code, msg := s.checkPrestopToken(r); code != 0 {
		s.refusePrestop(w, r, code, msg)
		return
	}
	s.trigger("prestop", byPrestop, nil)
	if s.enterPrestop() {
		defer s.prestops.Done()
		timer := time.NewTimer(time.Until(s.trig.at.Add(s.trig.delay)))
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-s.late: // the kubelet stopped waiting for this answer
		case <-r.Context().Done():
			return
		}
	}
	// A fixed length rather than chunks, flushed before Done: with quick
	// drains, Wait may return and the process exit the moment the delay is
	// over, and the chunked encoding's last chunk is written only after
	// the handler returns.
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(prestopBody)))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, prestopBody)
	_ = http.NewResponseController(w).Flush()
}

const prestopBody = "draining\n"

// refusePrestop answers a request that triggers nothing, and logs it: the
// kubelet ignores the status, so the log is where a misconfigured hook
// shows.
func (s *Sequence) refusePrestop(w http.ResponseWriter, r *http.Request, code int, msg string) {
	s.log.Warn("shutdown: /prestop refused", "status", code, "method", r.Method, "remote", r.RemoteAddr, "user_agent", r.UserAgent())
	http.Error(w, msg, code)
}

// enterPrestop registers a /prestop answer that Wait must not return
// before; false means the sequence is finishing and the answer is due now.
func (s *Sequence) enterPrestop() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finishing {
		return false
	}
	s.prestops.Add(1)
	return true
}

// awaitPrestops waits, at most until the deadline, for /prestop answers
// under way, which end at the latest when the delay is over.
func (s *Sequence) awaitPrestops() {
	idle := make(chan struct{})
	go func() { s.prestops.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-s.runCtx.Done(): // the deadline passed, or the exit was forced
	}
}

// checkPrestopToken returns a status and message when the request lacks
// the configured token, and 0 when it may go on. The scheme "Bearer" is
// matched without regard to case (RFC 9110 §11.1).
func (s *Sequence) checkPrestopToken(r *http.Request) (int, string) {
	want := s.cfg.prestopToken
	if want == "" {
		return 0, ""
	}
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return http.StatusUnauthorized, "shutdown: /prestop needs the header \"Authorization: Bearer <token>\" (set it in the hook's httpHeaders)"
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) != 1 {
		return http.StatusForbidden, "shutdown: /prestop token does not match the one set by " + s.cfg.prestopTokenFrom
	}
	return 0, ""
}
