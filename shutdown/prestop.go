package shutdown

import (
	"crypto/subtle"
	"net/http"
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
// sets no timeout on the hook and never cancels it. Repeated and
// concurrent calls are harmless and start one sequence.
//
// Other methods get 405. With [WithPrestopToken], a request without
// "Authorization: Bearer <token>" gets 401, one with the wrong token 403,
// and neither triggers anything. The kubelet ignores the status code, so
// these are for humans and scripts reading them.
func (s *Sequence) PrestopHandler() http.Handler { return http.HandlerFunc(s.servePrestop) }

func (s *Sequence) servePrestop(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "shutdown: /prestop takes GET (lifecycle.preStop.httpGet)", http.StatusMethodNotAllowed)
		return
	}
	if code, msg := s.checkPrestopToken(r); code != 0 {
		http.Error(w, msg, code)
		return
	}
	s.Trigger("prestop")
	if s.enterPrestop() {
		defer s.prestops.Done()
		timer := time.NewTimer(time.Until(s.trig.at.Add(s.trig.delay)))
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("draining\n"))
	// Flush before Done: with quick steps, Wait may return and the process
	// exit the moment the delay is over, and the hook must get its answer.
	_ = http.NewResponseController(w).Flush()
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
	timer := time.NewTimer(time.Until(s.trig.deadline))
	defer timer.Stop()
	select {
	case <-idle:
	case <-timer.C:
	}
}

// checkPrestopToken returns a status and message when the request lacks
// the configured token, and 0 when it may go on.
func (s *Sequence) checkPrestopToken(r *http.Request) (int, string) {
	want := s.cfg.prestopToken
	if want == "" {
		return 0, ""
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return http.StatusUnauthorized, "shutdown: /prestop needs the header \"Authorization: Bearer <token>\" (set it in the hook's httpHeaders)"
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return http.StatusForbidden, "shutdown: /prestop token does not match SHUTDOWN_PRESTOP_TOKEN"
	}
	return 0, ""
}
