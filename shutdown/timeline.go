package shutdown

import "time"

// A Timeline records one run of a [Sequence], for logs, metrics and tests.
// Times are zero for phases not reached.
type Timeline struct {
	Source       string        // what triggered the sequence: "SIGTERM", "SIGINT", "prestop", or Trigger's source
	Triggered    time.Time     // when it was triggered
	Delay        time.Duration // the propagation delay applied (zero for SIGINT)
	Deadline     time.Time     // Triggered + grace period − safety margin
	DrainStarted time.Time     // when the delay was over and the first step started
	Steps        []StepRecord  // the steps that ran, in order
	Finished     time.Time     // when the sequence finished
}

// A StepRecord is what one step did.
type StepRecord struct {
	Name      string
	Started   time.Time
	Duration  time.Duration // until it returned, or until it was abandoned
	Err       error         // nil, or an error naming the step
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
