// Package metrics exports what the lameduck shutdown sequence reports as
// Prometheus metrics, for the example services: the phase the process is
// in (read from the sequence's Triggered and DrainStarted channels at each
// scrape), every step (hook, drain, goroutine, after-drain step) with its
// duration and outcome (from the sequence's observer), and the requests
// and streams in flight. The services serve them
// at /metrics on the admin listener, which stays up through the drain, so
// that a scrape during the propagation delay and during the drain sees the
// shutdown as it happens.
package metrics

import (
	"errors"
	"net/http"
	"sync/atomic"

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
)

var phases = []string{PhaseRunning, PhaseLameDuck, PhaseDraining}

// Lifecycle is what the phase is read from: *shutdown.Sequence.
type Lifecycle interface {
	Triggered() <-chan struct{}
	DrainStarted() <-chan struct{}
}

// Metrics holds the collectors. Create it with [New]; its methods are safe
// for concurrent use.
type Metrics struct {
	reg       *prometheus.Registry
	lifecycle atomic.Pointer[Lifecycle]
	steps     *prometheus.CounterVec
	duration  *prometheus.GaugeVec
}

// New returns Metrics registered on a registry of their own. The phase is
// running until [Metrics.Follow] is given a sequence.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lameduck_shutdown_steps_total",
			Help: "Hooks, drains, goroutines and after-drain steps that ended, by outcome: ok, error, forced (a drain forced at its deadline) or abandoned.",
		}, []string{"phase", "step", "outcome"}),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lameduck_shutdown_step_duration_seconds",
			Help: "How long each hook, drain, goroutine and after-drain step took.",
		}, []string{"phase", "step"}),
	}
	m.reg.MustRegister(m.steps, m.duration)
	for _, p := range phases {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "lameduck_shutdown_phase",
			Help:        "1 for the phase of the shutdown sequence the process is in, 0 for the others.",
			ConstLabels: prometheus.Labels{"phase": p},
		}, func() float64 {
			if m.phase() == p {
				return 1
			}
			return 0
		}))
	}
	return m
}

// Follow makes the phase follow lc's channels, read at each scrape.
func (m *Metrics) Follow(lc Lifecycle) { m.lifecycle.Store(&lc) }

// phase is the phase of the sequence followed.
func (m *Metrics) phase() string {
	lc := m.lifecycle.Load()
	switch {
	case lc == nil:
		return PhaseRunning
	case closed((*lc).DrainStarted()):
		return PhaseDraining
	case closed((*lc).Triggered()):
		return PhaseLameDuck
	}
	return PhaseRunning
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Observe records a step as it finishes; pass it to shutdown.WithObserver.
func (m *Metrics) Observe(st shutdown.Step) {
	m.steps.WithLabelValues(string(st.Phase), st.Name, outcome(st)).Inc()
	m.duration.WithLabelValues(string(st.Phase), st.Name).Set(st.Duration.Seconds())
}

// outcome is the outcome label of a step.
func outcome(r shutdown.Step) string {
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
