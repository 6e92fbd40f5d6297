// Package metrics exports what the lameduck shutdown sequence reports as
// Prometheus metrics, for the example services: the phase the process is
// in, every hook, drain, goroutine and close step with its duration and
// outcome, and the requests and streams in flight. The services serve them
// at /metrics on the admin listener, which stays up through the drain, so
// that a scrape during the propagation delay and during the drain sees the
// shutdown as it happens.
package metrics

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/httpdrain"
	"github.com/lameduck/lameduck/shutdown"
)

// The values of the phase label of lameduck_shutdown_phase.
const (
	PhaseRunning  = "running"
	PhaseLameDuck = "lame_duck"
	PhaseDraining = "draining"
	PhaseDone     = "done"
)

var phases = []string{PhaseRunning, PhaseLameDuck, PhaseDraining, PhaseDone}

// Metrics holds the collectors. Create it with [New]; its methods are safe
// for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	phase    *prometheus.GaugeVec
	steps    *prometheus.CounterVec
	duration *prometheus.GaugeVec
}

// New returns Metrics registered on a registry of their own, with the
// phase set to running.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lameduck_shutdown_phase",
			Help: "1 for the phase of the shutdown sequence the process is in, 0 for the others.",
		}, []string{"phase"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lameduck_shutdown_steps_total",
			Help: "Hooks, drains, goroutines and close steps that ended, by outcome: ok, error, forced (a drain forced at its deadline) or abandoned.",
		}, []string{"phase", "step", "outcome"}),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lameduck_shutdown_step_duration_seconds",
			Help: "How long each hook, drain, goroutine and close step took.",
		}, []string{"phase", "step"}),
	}
	m.reg.MustRegister(m.phase, m.steps, m.duration)
	m.setPhase(PhaseRunning)
	return m
}

// Observe records a shutdown event; pass it to shutdown.WithObserver.
func (m *Metrics) Observe(e shutdown.Event) {
	switch e.Kind {
	case shutdown.EventTriggered:
		m.setPhase(PhaseLameDuck)
	case shutdown.EventDraining:
		m.setPhase(PhaseDraining)
	case shutdown.EventStep:
		m.steps.WithLabelValues(string(e.Step.Phase), e.Step.Name, outcome(e.Step)).Inc()
		m.duration.WithLabelValues(string(e.Step.Phase), e.Step.Name).Set(e.Step.Duration.Seconds())
	case shutdown.EventDone:
		m.setPhase(PhaseDone)
	}
}

// outcome is the outcome label of a step.
func outcome(r shutdown.StepRecord) string {
	switch {
	case r.Abandoned:
		return "abandoned"
	case errors.Is(r.Err, httpdrain.ErrForced), errors.Is(r.Err, grpcdrain.ErrForced):
		return "forced"
	case r.Err != nil:
		return "error"
	}
	return "ok"
}

func (m *Metrics) setPhase(current string) {
	for _, p := range phases {
		v := 0.0
		if p == current {
			v = 1
		}
		m.phase.WithLabelValues(p).Set(v)
	}
}

// InFlight reports the number of requests or RPCs server serves, as
// inFlight tells at each scrape (httpdrain's and grpcdrain's InFlight).
func (m *Metrics) InFlight(server string, inFlight func() int64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "lameduck_in_flight",
		Help:        "Requests or RPCs being served, by server, read at the scrape.",
		ConstLabels: prometheus.Labels{"server": server},
	}, func() float64 { return float64(inFlight()) }))
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
