package shutdown_test

import (
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
		{"negative delay", []shutdown.Option{shutdown.WithPropagationDelay(-time.Second)},
			[]string{"propagation delay -1s is negative", "WithPropagationDelay"}},
		{"negative margin", []shutdown.Option{shutdown.WithSafetyMargin(-time.Second)},
			[]string{"safety margin -1s is negative", "SHUTDOWN_SAFETY_MARGIN"}},
		{"negative reserve", []shutdown.Option{shutdown.WithStepReserve(-time.Second)},
			[]string{"step reserve -1s is negative", "WithStepReserve"}},
		{"delay does not fit", []shutdown.Option{shutdown.WithPropagationDelay(28 * time.Second)},
			[]string{"propagation delay 28s + safety margin 2s does not fit in grace period 30s", "shorten the delay"}},
		{"delay does not fit env", []shutdown.Option{shutdown.FromEnv(env("SHUTDOWN_GRACE_PERIOD", "5", "SHUTDOWN_PROPAGATION_DELAY", "5s"))},
			[]string{"propagation delay 5s + safety margin 2s does not fit in grace period 5s"}},
		{"env not a duration", []shutdown.Option{shutdown.FromEnv(env("SHUTDOWN_GRACE_PERIOD", "thirty"))},
			[]string{`SHUTDOWN_GRACE_PERIOD="thirty" is not a duration`, `such as "45s"`}},
		{"several at once", []shutdown.Option{shutdown.WithGracePeriod(-time.Second), shutdown.WithSafetyMargin(-time.Second)},
			[]string{"grace period -1s", "safety margin -1s"}},
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

func TestFromEnv(t *testing.T) {
	vars := map[string]string{
		shutdown.EnvGracePeriod:      "45",
		shutdown.EnvPropagationDelay: "7s",
		shutdown.EnvSafetyMargin:     "1500ms",
	}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	seq, _ := newSequence(t, shutdown.FromEnv(lookup))
	seq.Trigger("test")
	tl := seq.Timeline()
	assert.Equal(t, 7*time.Second, tl.Delay)
	assert.Equal(t, 45*time.Second-1500*time.Millisecond, tl.Deadline.Sub(tl.Triggered))
}

func TestOptionsAfterFromEnvWin(t *testing.T) {
	lookup := func(k string) (string, bool) { return "9s", k == shutdown.EnvPropagationDelay }
	seq, _ := newSequence(t, shutdown.FromEnv(lookup), shutdown.WithPropagationDelay(0))
	seq.Trigger("test")
	assert.Zero(t, seq.Timeline().Delay)
}
