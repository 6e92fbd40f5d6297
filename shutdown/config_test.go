package shutdown_test

import (
	"log/slog"
	"math"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
)

func TestNewRejectsInvalidConfig(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		return func(key string) (string, bool) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == key {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	tests := []struct {
		name string
		opts []shutdown.Option
		want []string // each must appear in the error
	}{
		{"negative grace", []shutdown.Option{shutdown.WithGracePeriod(-time.Second)},
			[]string{"shutdown: grace period -1s is not positive", "terminationGracePeriodSeconds"}},
		{"zero grace", []shutdown.Option{shutdown.WithGracePeriod(0)},
			[]string{"grace period 0s is not positive", "SHUTDOWN_GRACE_PERIOD"}},
		{"delay does not fit", []shutdown.Option{shutdown.WithPropagationDelay(28 * time.Second)},
			[]string{"propagation delay 28s + safety margin 2s does not fit in grace period 30s", "shorten the delay"}},
		{"delay does not fit env", []shutdown.Option{shutdown.FromEnv(env("SHUTDOWN_GRACE_PERIOD", "5", "SHUTDOWN_PROPAGATION_DELAY", "5s"))},
			[]string{"propagation delay 5s + safety margin 2s does not fit in grace period 5s"}},
		{"env not a duration", []shutdown.Option{shutdown.FromEnv(env("SHUTDOWN_GRACE_PERIOD", "thirty"))},
			[]string{`SHUTDOWN_GRACE_PERIOD="thirty" is not a duration`, `such as "45s"`}},
		{"delay + margin overflow", []shutdown.Option{shutdown.WithPropagationDelay(math.MaxInt64), shutdown.WithSafetyMargin(math.MaxInt64)},
			[]string{"does not fit in grace period 30s"}},
		{"huge margin", []shutdown.Option{shutdown.WithSafetyMargin(math.MaxInt64 - 1)},
			[]string{"does not fit in grace period 30s"}},
		{"seconds past int64", []shutdown.Option{shutdown.FromEnv(env("SHUTDOWN_GRACE_PERIOD", "10000000000"))},
			[]string{`SHUTDOWN_GRACE_PERIOD="10000000000" is out of range`}},
		{"seconds that wrapped to 30s", []shutdown.Option{shutdown.FromEnv(env("SHUTDOWN_GRACE_PERIOD", "36028797018963998"))},
			[]string{"is out of range"}},
		{"59 years", []shutdown.Option{shutdown.FromEnv(env("SHUTDOWN_GRACE_PERIOD", "9999999999999"))},
			[]string{"is out of range"}},
		{"several at once", []shutdown.Option{shutdown.WithGracePeriod(-time.Second), shutdown.FromEnv(env("SHUTDOWN_SAFETY_MARGIN", "soon"))},
			[]string{"grace period -1s", `SHUTDOWN_SAFETY_MARGIN="soon" is not a duration`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq, err := shutdown.New(tt.opts...)
			require.Error(t, err)
			assert.Nil(t, seq)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestNegativeDurationsClamp: a negative delay, margin or reserve, which
// can come from configuration, turns its feature off instead of failing.
func TestNegativeDurationsClamp(t *testing.T) {
	seq, _ := newSequence(t, shutdown.WithGracePeriod(10*time.Second), shutdown.WithPropagationDelay(-time.Second),
		shutdown.WithSafetyMargin(-time.Second), shutdown.WithAfterDrainReserve(-time.Second))
	seq.Trigger("test")
	tl := seq.Timeline()
	assert.Zero(t, tl.Delay, "a negative delay is no delay")
	assert.Equal(t, 10*time.Second, tl.Deadline.Sub(tl.TriggeredAt), "a negative margin is no margin")
}

func TestFromEnv(t *testing.T) {
	vars := map[string]string{
		"SHUTDOWN_GRACE_PERIOD":      "45",
		"SHUTDOWN_PROPAGATION_DELAY": "7s",
		"SHUTDOWN_SAFETY_MARGIN":     "1500ms",
	}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	seq, _ := newSequence(t, shutdown.FromEnv(lookup))
	seq.Trigger("test")
	tl := seq.Timeline()
	assert.Equal(t, 7*time.Second, tl.Delay)
	assert.Equal(t, 45*time.Second-1500*time.Millisecond, tl.Deadline.Sub(tl.TriggeredAt))
}

// TestFromEnvOverridesEveryOption: a variable that is set and non-empty
// wins wherever FromEnv is placed; an unset or empty one leaves the
// options' values.
func TestFromEnvOverridesEveryOption(t *testing.T) {
	vars := map[string]string{"SHUTDOWN_PROPAGATION_DELAY": "9s", "SHUTDOWN_SAFETY_MARGIN": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for _, tt := range []struct {
		name string
		opts []shutdown.Option
	}{
		{"before", []shutdown.Option{shutdown.FromEnv(lookup), shutdown.WithPropagationDelay(0), shutdown.WithSafetyMargin(3 * time.Second)}},
		{"after", []shutdown.Option{shutdown.WithPropagationDelay(0), shutdown.WithSafetyMargin(3 * time.Second), shutdown.FromEnv(lookup)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seq, _ := newSequence(t, tt.opts...)
			seq.Trigger("test")
			tl := seq.Timeline()
			assert.Equal(t, 9*time.Second, tl.Delay, "the variable wins")
			assert.Equal(t, shutdown.DefaultGracePeriod-3*time.Second, tl.Deadline.Sub(tl.TriggeredAt), "an empty variable leaves the option")
		})
	}
}

// TestFromEnvFormats: whole seconds and Go durations parse; values a
// time.Duration cannot hold are rejected rather than wrapped.
func TestFromEnvFormats(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"45": 45 * time.Second, "1m30s": 90 * time.Second, "2500ms": 2500 * time.Millisecond,
		"9223372036": 9223372036 * time.Second,
	} {
		seq, _ := newSequence(t, shutdown.FromEnv(func(k string) (string, bool) { return in, k == "SHUTDOWN_GRACE_PERIOD" }),
			shutdown.WithPropagationDelay(0))
		seq.Trigger("test")
		tl := seq.Timeline()
		assert.Equal(t, want-shutdown.DefaultSafetyMargin, tl.Deadline.Sub(tl.TriggeredAt), in)
	}
	for _, in := range []string{"10000000000", "36028797018963998", "9999999999999", "-10000000000", "99999999999999999999", "thirty", "1.5"} {
		_, err := shutdown.New(shutdown.FromEnv(func(k string) (string, bool) { return in, k == "SHUTDOWN_GRACE_PERIOD" }))
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), "SHUTDOWN_GRACE_PERIOD", in)
	}
}

// FuzzFromEnv: whatever the environment holds, New either accepts a
// configuration whose deadline lies after the delay, or says what is
// wrong; it never panics.
func FuzzFromEnv(f *testing.F) {
	f.Add("30", "5", "2")
	f.Add("10000000000", "5s", "2s")
	f.Add("36028797018963998", "0", "0")
	f.Add("9999999999999", "1", "1")
	f.Add("30s", "9223372036854775807ns", "9223372036854775807ns")
	f.Add("5", "5s", "")
	f.Fuzz(func(t *testing.T, grace, delay, margin string) {
		env := map[string]string{"SHUTDOWN_GRACE_PERIOD": grace, "SHUTDOWN_PROPAGATION_DELAY": delay, "SHUTDOWN_SAFETY_MARGIN": margin}
		sigs, exited := make(chan os.Signal, 2), make(chan int, 1)
		seq, err := shutdown.New(shutdown.FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }),
			testHooks(sigs, func(code int) { exited <- code }), shutdown.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			return
		}
		seq.Trigger("fuzz")
		tl := seq.Timeline()
		require.Greater(t, tl.Deadline.Sub(tl.TriggeredAt), tl.Delay, "the deadline must fall after the delay")
		require.GreaterOrEqual(t, tl.Delay, time.Duration(0))
		// Two signals force the exit (a no-op here), which ends the
		// sequence's signal goroutine.
		sigs <- syscall.SIGTERM
		sigs <- syscall.SIGTERM
		<-exited
		require.ErrorIs(t, seq.Wait(), shutdown.ErrForcedExit)
	})
}
