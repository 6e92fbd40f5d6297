package shutdown_test

import (
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
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
		{"negative delay", []shutdown.Option{shutdown.WithPropagationDelay(-time.Second)},
			[]string{"propagation delay -1s is negative", "WithPropagationDelay"}},
		{"negative margin", []shutdown.Option{shutdown.WithSafetyMargin(-time.Second)},
			[]string{"safety margin -1s is negative", "SHUTDOWN_SAFETY_MARGIN"}},
		{"negative reserve", []shutdown.Option{shutdown.WithCloseReserve(-time.Second)},
			[]string{"close reserve -1s is negative", "WithCloseReserve"}},
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
		{"exit code above 255", []shutdown.Option{shutdown.WithForceExitCode(256)},
			[]string{"force exit code 256 is out of range", "0..255"}},
		{"negative exit code", []shutdown.Option{shutdown.WithForceExitCode(-1)},
			[]string{"force exit code -1 is out of range"}},
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

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"45": 45 * time.Second, "0": 0, "1m30s": 90 * time.Second, "1500ms": 1500 * time.Millisecond,
		"9223372036": 9223372036 * time.Second,
	} {
		got, err := shutdown.ParseDuration(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"10000000000", "36028797018963998", "9999999999999", "-10000000000", "99999999999999999999", "thirty", "", "1.5"} {
		_, err := shutdown.ParseDuration(in)
		assert.Error(t, err, in)
	}
}

// FuzzParseDuration: whole seconds either parse to exactly n seconds or
// are rejected; nothing wraps.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"45", "45s", "10000000000", "36028797018963998", "9999999999999", "-1", "1m30s", "9223372036", "9223372037", "1e3", " 5", "+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := shutdown.ParseDuration(s)
		if err != nil {
			assert.True(t, strings.HasPrefix(err.Error(), "shutdown: "), err.Error())
			return
		}
		if n, perr := strconv.ParseInt(s, 10, 64); perr == nil {
			require.Equal(t, n, int64(d/time.Second), "%q parsed to %v", s, d)
			require.Zero(t, d%time.Second)
		}
	})
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
		env := map[string]string{shutdown.EnvGracePeriod: grace, shutdown.EnvPropagationDelay: delay, shutdown.EnvSafetyMargin: margin}
		sigs, exited := make(chan os.Signal, 2), make(chan int, 1)
		seq, err := shutdown.New(shutdown.FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }),
			shutdown.WithSignalSource(sigs), shutdown.WithLogger(slog.New(slog.DiscardHandler)), shutdown.WithExit(func(code int) { exited <- code }))
		if err != nil {
			return
		}
		seq.Trigger("fuzz")
		tl := seq.Timeline()
		require.Greater(t, tl.Deadline.Sub(tl.Triggered), tl.Delay, "the deadline must fall after the delay")
		require.GreaterOrEqual(t, tl.Delay, time.Duration(0))
		// Two signals force the exit (a no-op here), which ends the
		// sequence's signal goroutine.
		sigs <- syscall.SIGTERM
		sigs <- syscall.SIGTERM
		<-exited
		require.ErrorIs(t, seq.Wait(), shutdown.ErrForcedExit)
	})
}
