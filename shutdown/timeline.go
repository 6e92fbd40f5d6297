package shutdown

import "time"

// A Timeline records one run of a [Sequence], for logs, metrics and tests.
// Times are zero for phases not reached.
type Timeline struct {
	Source       string        // what triggered the sequence: "SIGTERM", "SIGINT", "prestop", "failure", or Trigger's source
	Triggered    time.Time     // when it was triggered
	Delay        time.Duration // the propagation delay applied: zero when skipped (see the package doc), shorter after a late signal
	Deadline     time.Time     // Triggered + grace period − safety margin, or earlier after a late signal
	DrainStarted time.Time     // when the delay was over and the drains started
	Steps        []StepRecord  // the pre-drain hooks, the drains and goroutines, each in the order registered, then the close steps in order
	Finished     time.Time     // when the sequence finished
}

// Phase names the part of the sequence a [StepRecord] belongs to.
type Phase string

// The phases of a sequence that run work.
const (
	PhasePreDrain Phase = "pre-drain" // hooks added with BeforeDrain, run together from the trigger
	PhaseDrain    Phase = "drain"     // servers' drains and goroutines, run together
	PhaseClose    Phase = "close"     // close steps, one at a time
)

// A StepRecord is what one drain, goroutine or close step did.
type StepRecord struct {
	Name      string
	Phase     Phase
	Started   time.Time
	Duration  time.Duration // until it returned, or until it was abandoned
	Err       error         // nil, or an error naming it
	Abandoned bool          // it had not returned by the end of its time
}

// Total is the time from the trigger to the end of the sequence, or zero
// if it has not finished.
func (t Timeline) Total() time.Duration {
	if t.Finished.IsZero() || t.Triggered.IsZero() {
		return 0
	}
	return t.Finished.Sub(t.Triggered)
}

// BudgetLeft is the time between the end of the sequence and the deadline;
// negative if the sequence overran it.
func (t Timeline) BudgetLeft() time.Duration {
	if t.Finished.IsZero() || t.Deadline.IsZero() {
		return 0
	}
	return t.Deadline.Sub(t.Finished)
}
