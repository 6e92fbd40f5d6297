package shutdown

import "time"

// A Timeline records one run of a [Sequence], for logs, metrics and tests.
// Times are zero for moments not reached.
type Timeline struct {
	Source         string        // what triggered the sequence: "SIGTERM", "SIGINT", "prestop", "error", or Trigger's source
	TriggeredAt    time.Time     // when it was triggered
	Delay          time.Duration // the propagation delay applied: zero when skipped (see the package doc), shorter after a late signal
	Deadline       time.Time     // TriggeredAt + grace period − safety margin, or earlier after a late signal
	DrainStartedAt time.Time     // when the delay was over and the drains started
	Steps          []Step        // the before-drain hooks, the drains and goroutines, each in the order registered, then the after-drain steps in order
	FinishedAt     time.Time     // when the sequence finished
}

// Phase names the part of the sequence a [Step] belongs to.
type Phase string

// The phases of a sequence that run steps.
const (
	PhaseBeforeDrain Phase = "before-drain" // hooks added with BeforeDrain, run together from the trigger
	PhaseDrain       Phase = "drain"        // servers' drains and serve calls, and goroutines, run together
	PhaseAfterDrain  Phase = "after-drain"  // after-drain steps, one at a time
)

// A Step is what one unit of the sequence did: a before-drain hook, a
// server (its drain and serve call), a goroutine run with Go, or an
// after-drain step.
type Step struct {
	Name      string
	Phase     Phase
	StartedAt time.Time
	Duration  time.Duration // until it returned, or until it was abandoned
	Err       error         // nil, or an error naming it
	Abandoned bool          // it had not returned by the end of its time; Err wraps ErrAbandoned
}
