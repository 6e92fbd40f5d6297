package shutdown

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestPlanBudget: the time arithmetic of the sequence, one row per rule.
// Times are offsets from the trigger; the defaults are a 30 s grace
// period, a 2 s margin and a 1 s reserve.
func TestPlanBudget(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	s := time.Second
	ms := time.Millisecond
	tests := []struct {
		name string
		in   budgetIn // at, grace, margin and reserve default as above when zero
		want budget   // end and stepCtx zero when no phase is asked about
	}{
		{"the plan", budgetIn{delay: 5 * s},
			budget{delayEnd: at(5 * s), hooksEnd: at(5 * s), deadline: at(28 * s), backstop: at(29 * s)}},
		{"no delay: the hooks still get 1 s", budgetIn{},
			budget{delayEnd: at(0), hooksEnd: at(s), deadline: at(28 * s), backstop: at(29 * s)}},
		{"a short delay: the hooks get 1 s", budgetIn{delay: 200 * ms},
			budget{delayEnd: at(200 * ms), hooksEnd: at(s), deadline: at(28 * s), backstop: at(29 * s)}},
		{"the hooks' 1 s is at most half the time to the deadline", budgetIn{grace: 2500 * ms, margin: s},
			budget{delayEnd: at(0), hooksEnd: at(750 * ms), deadline: at(1500 * ms), backstop: at(2 * s)}},
		{"no margin: the deadline is the SIGKILL, and so is the backstop", budgetIn{delay: 5 * s, margin: -1},
			budget{delayEnd: at(5 * s), hooksEnd: at(5 * s), deadline: at(30 * s), backstop: at(30 * s)}},
		{"late signal: the delay and the hooks end at it, the deadline 1.5 s after", budgetIn{delay: 5 * s, late: at(3 * s)},
			budget{delayEnd: at(3 * s), hooksEnd: at(3 * s), deadline: at(4500 * ms), backstop: at(4750 * ms)}},
		{"late signal after an earlier deadline keeps it", budgetIn{delay: 5 * s, grace: 6 * s, late: at(3900 * ms)},
			budget{delayEnd: at(3900 * ms), hooksEnd: at(3900 * ms), deadline: at(4 * s), backstop: at(4250 * ms)}},
		{"the drains end at the deadline less the reserve", budgetIn{delay: 5 * s, phase: PhaseDrain, start: at(5 * s), steps: 2},
			budget{delayEnd: at(5 * s), hooksEnd: at(5 * s), deadline: at(28 * s), backstop: at(29 * s), end: at(27 * s), stepCtx: at(27*s - 100*ms)}},
		{"without after-drain steps the drains keep the reserve", budgetIn{delay: 5 * s, phase: PhaseDrain, start: at(5 * s)},
			budget{delayEnd: at(5 * s), hooksEnd: at(5 * s), deadline: at(28 * s), backstop: at(29 * s), end: at(28 * s), stepCtx: at(28*s - 100*ms)}},
		{"the reserve is at most half the time left", budgetIn{grace: 4 * s, margin: s, reserve: 5 * s, phase: PhaseDrain, start: at(s), steps: 1},
			budget{delayEnd: at(0), hooksEnd: at(s), deadline: at(3 * s), backstop: at(3500 * ms), end: at(2 * s), stepCtx: at(1900 * ms)}},
		{"no reserve", budgetIn{delay: 5 * s, reserve: -1, phase: PhaseDrain, start: at(5 * s), steps: 1},
			budget{delayEnd: at(5 * s), hooksEnd: at(5 * s), deadline: at(28 * s), backstop: at(29 * s), end: at(28 * s), stepCtx: at(28*s - 100*ms)}},
		{"an after-drain step leaves its share to each later one", budgetIn{delay: 5 * s, reserve: 3 * s, phase: PhaseAfterDrain, start: at(10 * s), steps: 3, later: 2},
			budget{delayEnd: at(5 * s), hooksEnd: at(5 * s), deadline: at(28 * s), backstop: at(29 * s), end: at(26 * s), stepCtx: at(26*s - 100*ms)}},
		{"the last after-drain step gets the deadline", budgetIn{delay: 5 * s, phase: PhaseAfterDrain, start: at(10 * s), steps: 3},
			budget{delayEnd: at(5 * s), hooksEnd: at(5 * s), deadline: at(28 * s), backstop: at(29 * s), end: at(28 * s), stepCtx: at(28*s - 100*ms)}},
		{"a short step's context expires a tenth of its time early", budgetIn{delay: 5 * s, phase: PhaseAfterDrain, start: at(27500 * ms), steps: 1},
			budget{delayEnd: at(5 * s), hooksEnd: at(5 * s), deadline: at(28 * s), backstop: at(29 * s), end: at(28 * s), stepCtx: at(27950 * ms)}},
		{"a step past the deadline has no time", budgetIn{delay: 5 * s, phase: PhaseAfterDrain, start: at(29 * s), steps: 2, later: 1},
			budget{delayEnd: at(5 * s), hooksEnd: at(5 * s), deadline: at(28 * s), backstop: at(29 * s), end: at(28 * s), stepCtx: at(28 * s)}},
		{"the hooks' phase", budgetIn{delay: 3 * s, phase: PhaseBeforeDrain, start: at(0)},
			budget{delayEnd: at(3 * s), hooksEnd: at(3 * s), deadline: at(28 * s), backstop: at(29 * s), end: at(3 * s), stepCtx: at(3*s - 100*ms)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.at = t0
			in.grace = defaultTo(in.grace, 30*s)
			in.margin = defaultTo(in.margin, 2*s)
			in.reserve = defaultTo(in.reserve, s)
			assert.Equal(t, tt.want, planBudget(in))
		})
	}
}

// defaultTo returns d, def when d is zero, and zero when d is negative.
func defaultTo(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}
