package shutdown

import "time"

// The sequence's time arithmetic, in one pure function: planBudget. The
// run loop asks it, at each phase, when that phase's time is up.

// forceSlack is how long before the end of its time a step's context
// expires (at most a tenth of that time), so that a step that reacts to
// its context (a drain that forces its connections closed) returns before
// the sequence abandons it.
const forceSlack = 100 * time.Millisecond

// beforeDrainMinimum is the least time the before-drain hooks get, as
// BeforeDrain documents.
const beforeDrainMinimum = time.Second

// budgetIn is what the budget of a triggered sequence depends on.
type budgetIn struct {
	at                     time.Time     // the trigger
	delay                  time.Duration // the propagation delay applied to this trigger
	grace, margin, reserve time.Duration // the configuration, clamped by the options
	// late, when not zero, is when a signal came while /prestop still
	// waited: the kubelet gave up on the hook and SIGKILL follows
	// kubeletMinGrace after it.
	late time.Time
	// phase and start ask when a phase starting at start must be done:
	// PhaseDrain (the drains, with steps after-drain steps to follow) or
	// PhaseAfterDrain (an after-drain step, the later-th from the end of
	// steps). Any other phase asks only for the moments of the plan.
	phase        Phase
	start        time.Time
	steps, later int
}

// A budget is when each part of a sequence's time is up.
type budget struct {
	delayEnd time.Time // the propagation delay is over
	hooksEnd time.Time // the before-drain hooks' time is up
	deadline time.Time // Wait returns by then
	backstop time.Time // the exit is forced if the sequence has not finished
	end      time.Time // the phase asked about must be done by then
	stepCtx  time.Time // that phase's steps' contexts expire then: forceSlack earlier
}

// planBudget returns the budget for in:
//
//   - the deadline is the trigger + grace period − safety margin, and the
//     backstop half the margin later;
//   - the hooks get the delay, but at least beforeDrainMinimum, itself at
//     most half the time from the trigger to the deadline;
//   - after a late signal the delay and the hooks' time end at the signal,
//     the deadline is the signal + kubeletMinGrace − lateSignalMargin if
//     that is earlier, and the backstop half lateSignalMargin after it;
//   - the drains end at the deadline, less the after-drain reserve when
//     after-drain steps follow; the reserve takes at most half the time
//     left when they start;
//   - an after-drain step ends at the deadline less its share of the
//     reserve (at most half the time left when it starts) for each step
//     after it.
func planBudget(in budgetIn) budget {
	var b budget
	b.deadline = in.at.Add(in.grace - in.margin)
	b.backstop = b.deadline.Add(in.margin / 2)
	b.delayEnd = in.at.Add(in.delay)
	b.hooksEnd = in.at.Add(max(in.delay, min(beforeDrainMinimum, b.deadline.Sub(in.at)/2)))
	if !in.late.IsZero() {
		b.delayEnd = minTime(b.delayEnd, in.late)
		b.hooksEnd = minTime(b.hooksEnd, in.late)
		b.deadline = minTime(b.deadline, in.late.Add(kubeletMinGrace-lateSignalMargin))
		b.backstop = b.deadline.Add(lateSignalMargin / 2)
	}
	reserve := min(in.reserve, max(b.deadline.Sub(in.start)/2, 0))
	switch in.phase {
	case PhaseDrain:
		b.end = b.deadline
		if in.steps > 0 {
			b.end = b.end.Add(-reserve)
		}
	case PhaseAfterDrain:
		b.end = b.deadline.Add(-reserve / time.Duration(in.steps) * time.Duration(in.later))
	case PhaseBeforeDrain:
		b.end = b.hooksEnd
	default:
		return b
	}
	b.stepCtx = b.end.Add(-min(forceSlack, max(b.end.Sub(in.start)/10, 0)))
	return b
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// budget returns the sequence's budget (see planBudget), re-planned after
// a late signal, for the phase starting at start, with steps after-drain
// steps of which later come after the one asked about. Read after the
// trigger.
func (s *Sequence) budget(phase Phase, start time.Time, steps, later int) budget {
	in := budgetIn{
		at: s.trig.at, delay: s.trig.delay,
		grace: s.cfg.grace, margin: s.cfg.margin, reserve: s.cfg.reserve,
		phase: phase, start: start, steps: steps, later: later,
	}
	if isClosed(s.late) {
		in.late = s.lateAt
	}
	return planBudget(in)
}
