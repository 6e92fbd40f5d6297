package readiness

import (
	"net/http"
)

// Paths served by [Probe.Register].
const (
	ReadyzPath   = "/readyz"
	LivezPath    = "/livez"
	StartupzPath = "/startupz"
)

// Register serves [Probe.ReadyzHandler], [Probe.LivezHandler] and
// [Probe.StartupzHandler] on mux at [ReadyzPath], [LivezPath] and
// [StartupzPath]. Serve them on an admin listener that stays up until the
// process exits, not on the traffic port that drains.
func (p *Probe) Register(mux *http.ServeMux) {
	mux.Handle(ReadyzPath, p.ReadyzHandler())
	mux.Handle(LivezPath, p.LivezHandler())
	mux.Handle(StartupzPath, p.StartupzHandler())
}

// ReadyzHandler answers 200 "ok" when [Probe.Check] passes, and 503 with
// the reason ("readiness: not ready: lame duck") otherwise.
func (p *Probe) ReadyzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.Check(r.Context()); err != nil {
			reply(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		reply(w, http.StatusOK, "ok")
	})
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
