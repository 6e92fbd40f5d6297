package readiness

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// State is a phase of the process's life as probes see it.
type State int32

// The states, in the only order a [Probe] moves through them.
const (
	Starting State = iota // start-up not complete: not ready, not started
	Ready                 // serving and in rotation
	LameDuck              // triggered: still serving, leaving rotation; latched, never ready again
)

// String returns the state as the probe handlers report it: "starting",
// "ready" or "lame duck".
func (s State) String() string {
	switch s {
	case Starting:
		return "starting"
	case Ready:
		return "ready"
	case LameDuck:
		return "lame duck"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// ErrNotReady is wrapped by the error [Probe.Check] returns when the state
// is not [Ready].
var ErrNotReady = errors.New("readiness: not ready")

// Lifecycle is what this package needs of the shutdown sequence: a channel
// closed once at the trigger, when the process becomes a lame duck.
// *shutdown.Sequence implements it.
type Lifecycle interface{ Triggered() <-chan struct{} }

// TerminatingLifecycle is an optional interface of a [Lifecycle] that tells
// a termination from other triggers and says when the drains start, for
// [Probe.ServingzHandler]. *shutdown.Sequence implements it. [New] checks
// for it with a type assertion; a Lifecycle without it makes /servingz
// fail at the trigger, like /readyz.
type TerminatingLifecycle interface {
	Lifecycle
	// Terminating reports whether the trigger was a request to terminate
	// the process (a signal, or a preStop /prestop request), as when
	// Kubernetes deletes the pod. It is false before the trigger, and after
	// a trigger of any other kind (a failure, a trigger from code). Once
	// Triggered is closed its answer never changes.
	Terminating() bool
	// DrainStarted returns a channel closed when the drains start, after the
	// propagation delay.
	DrainStarted() <-chan struct{}
}

// ReadinessTracker is an optional interface of a [Lifecycle] that learns
// what the readiness endpoints answer, so that a process that was never
// put in rotation leaves without the propagation delay.
// *shutdown.Sequence implements it. [Probe.ReadyzHandler] and
// [Probe.ServingzHandler] call TrackReadiness once, when the first of
// them is made, and report before every answer, with whether it would say
// 200 "ok": if report returns false (the sequence was triggered before any
// answer said ready, and skipped the delay) they answer 503 instead.
type ReadinessTracker interface {
	TrackReadiness() (report func(ready bool) bool)
}

// A Probe is the readiness state of a process. A Probe must not be copied
// after first use; its methods are safe for concurrent use.
//
// The zero value is a Probe in state [Starting] with no checks, ready to
// use, that becomes a lame duck only when [Probe.SetLameDuck] is called:
// for programs without a shutdown sequence. Programs with one use [New].
type Probe struct {
	state     atomic.Int32
	started   atomic.Bool           // SetReady was called before the lame-duck phase
	triggered <-chan struct{}       // from New; nil for the zero value
	term      TerminatingLifecycle  // from New, if the Lifecycle implements it
	tracker   ReadinessTracker      // from New, if the Lifecycle implements it
	trackOnce sync.Once             // calls tracker.TrackReadiness
	report    func(ready bool) bool // from TrackReadiness, set in trackOnce

	mu     sync.Mutex
	checks []check
}

type check struct {
	name string
	fn   func(context.Context) error
}

// New returns a Probe in state [Starting] that moves to [LameDuck] when
// lc's trigger channel closes, exactly then: the channel is looked at
// whenever the state is read, so no goroutine is started. A channel
// already closed makes the Probe a lame duck at once. New panics if lc is
// nil.
func New(lc Lifecycle) *Probe {
	if lc == nil {
		panic("readiness: New(nil): pass the shutdown sequence")
	}
	p := &Probe{triggered: lc.Triggered()}
	p.term, _ = lc.(TerminatingLifecycle)
	p.tracker, _ = lc.(ReadinessTracker)
	p.State()
	return p
}

// SetReady records that start-up is complete: the state moves from
// [Starting] to [Ready]. It does nothing once a lame duck, so a late call
// cannot put a leaving process back in rotation.
func (p *Probe) SetReady() {
	if p.State() == Starting && p.state.CompareAndSwap(int32(Starting), int32(Ready)) {
		p.started.Store(true)
	}
}

// Started reports whether start-up completed: SetReady was called before
// the Probe became a lame duck. It stays true afterwards.
func (p *Probe) Started() bool { return p.started.Load() }

// SetLameDuck latches the state to [LameDuck]. A Probe made with [New]
// does it by itself at the trigger. It may be called any number of times.
func (p *Probe) SetLameDuck() { p.state.Store(int32(LameDuck)) }

// State returns the current state.
func (p *Probe) State() State {
	if p.triggered != nil {
		select {
		case <-p.triggered:
			p.SetLameDuck()
		default:
		}
	}
	return State(p.state.Load())
}

// AddCheck adds a named readiness check, such as a database ping, run on
// every [Probe.Check] with the caller's context. A failing check makes the
// process not ready without moving its state: it is ready again once the
// check passes. Checks should be quick and honour their context; the
// kubelet's probe timeout defaults to 1 s. Liveness never runs checks: a
// failing dependency is no reason to restart this process.
func (p *Probe) AddCheck(name string, fn func(ctx context.Context) error) {
	if fn == nil {
		panic("readiness: AddCheck(" + name + ") with a nil check")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checks = append(p.checks, check{name, fn})
}

// Check reports whether the process should receive traffic: nil when the
// state is [Ready] and every check passes. Otherwise its error wraps
// [ErrNotReady] and says why, naming each failing check. Checks run one
// after another, and not at all unless the state is Ready.
func (p *Probe) Check(ctx context.Context) error {
	if st := p.State(); st != Ready {
		return fmt.Errorf("%w: %s", ErrNotReady, st)
	}
	return p.runChecks(ctx)
}

// Serving reports whether the process still serves the traffic routed to
// it, as the kubelet's readiness probe should see it: like [Probe.Check]
// until the trigger. After a trigger by a termination (a signal or
// /prestop, see [TerminatingLifecycle]) of a process whose start-up had
// completed, it keeps running the checks and passing until the drains
// start, and fails from then on. After any other trigger, or with a
// Lifecycle that does not tell the trigger's kind, it fails at once, as
// Check does. Its error wraps [ErrNotReady].
func (p *Probe) Serving(ctx context.Context) error {
	st := p.State()
	if st == LameDuck && p.Started() && p.term != nil && p.term.Terminating() {
		select {
		case <-p.term.DrainStarted():
			return fmt.Errorf("%w: draining", ErrNotReady)
		default:
			return p.runChecks(ctx)
		}
	}
	if st != Ready {
		return fmt.Errorf("%w: %s", ErrNotReady, st)
	}
	return p.runChecks(ctx)
}

// runChecks runs every check and joins their errors.
func (p *Probe) runChecks(ctx context.Context) error {
	p.mu.Lock()
	checks := p.checks
	p.mu.Unlock()
	var errs []error
	for _, c := range checks {
		if err := c.fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("check %q: %w", c.name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrNotReady, errors.Join(errs...))
	}
	return nil
}
