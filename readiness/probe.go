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
	Draining              // leaving rotation, latched: never ready again
)

// String returns the state as the probe handlers report it: "starting",
// "ready" or "draining".
func (s State) String() string {
	switch s {
	case Starting:
		return "starting"
	case Ready:
		return "ready"
	case Draining:
		return "draining"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// ErrNotReady is wrapped by the error [Probe.Check] returns when the state
// is not [Ready].
var ErrNotReady = errors.New("readiness: not ready")

// A Probe is the readiness state of a process. The zero value is a Probe
// in state [Starting] with no checks, ready to use. A Probe must not be
// copied after first use; its methods are safe for concurrent use.
type Probe struct {
	state   atomic.Int32
	started atomic.Bool // SetReady was called before draining
	drain   atomic.Pointer[<-chan struct{}]

	mu     sync.Mutex
	checks []check
}

type check struct {
	name string
	fn   func(context.Context) error
}

// SetReady records that start-up is complete: the state moves from
// [Starting] to [Ready]. It does nothing once draining, so a late call
// cannot put a draining process back in rotation.
func (p *Probe) SetReady() {
	if p.state.CompareAndSwap(int32(Starting), int32(Ready)) {
		p.started.Store(true)
	}
}

// Started reports whether start-up completed: SetReady was called before
// the Probe began draining. It stays true while draining.
func (p *Probe) Started() bool { return p.started.Load() }

// Drain latches the state to [Draining]. It may be called any number of
// times.
func (p *Probe) Drain() { p.state.Store(int32(Draining)) }

// DrainWhen makes the Probe drain once ch is closed; pass the shutdown
// sequence's Triggered channel. The channel is looked at whenever the
// state is read, so no goroutine is started and the flip is exact. A later
// call replaces the channel; a Probe already draining stays draining.
func (p *Probe) DrainWhen(ch <-chan struct{}) { p.drain.Store(&ch) }

// State returns the current state.
func (p *Probe) State() State {
	if ch := p.drain.Load(); ch != nil {
		select {
		case <-*ch:
			p.Drain()
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
