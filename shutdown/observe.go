package shutdown

import "time"

// An Event is something a [Sequence] did, as reported to the function
// given to [WithObserver]: for metrics and traces.
type Event struct {
	Kind   EventKind
	At     time.Time
	Source string     // EventTriggered: what triggered the sequence
	Step   StepRecord // EventStep: what a hook, drain, goroutine or close step did
	Err    error      // EventDone: what Wait returns
}

// EventKind says what an [Event] reports.
type EventKind int

// The kinds of [Event], in the order a sequence reports them.
const (
	EventTriggered EventKind = iota + 1 // the trigger: Triggered closed
	EventDraining                       // the drains start: Draining closed
	EventStep                           // a pre-drain hook, drain, goroutine or close step finished or was abandoned
	EventDone                           // the sequence finished: Done is about to close
)

// String names the kind as metrics label it: "triggered", "draining",
// "step" or "done".
func (k EventKind) String() string {
	switch k {
	case EventTriggered:
		return "triggered"
	case EventDraining:
		return "draining"
	case EventStep:
		return "step"
	case EventDone:
		return "done"
	}
	return "unknown"
}

// WithObserver makes the sequence call observe for every [Event], from
// the goroutine that caused it, one call at a time per goroutine: observe
// must be safe for concurrent use and must not block, or it delays the
// sequence. Forced drains show as step errors that wrap the drainers'
// ErrForced, abandoned ones as StepRecord.Abandoned. Requests and streams
// in flight are the drainers' to report (httpdrain's and grpcdrain's
// InFlight). Defaults to no observer. It panics if observe is nil.
func WithObserver(observe func(Event)) Option {
	if observe == nil {
		panic("shutdown: WithObserver(nil): pass a function")
	}
	return func(c *config) { c.observe = observe }
}

// emit reports e to the observer, if any.
func (s *Sequence) emit(e Event) {
	if s.cfg.observe != nil {
		s.cfg.observe(e)
	}
}
