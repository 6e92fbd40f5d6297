package shutdown_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
)

func TestBeforeDrain(t *testing.T) {
	t.Run("runs from the trigger and holds the drains", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			seq, _ := newSequence(t, shutdown.WithPropagationDelay(0)) // the hooks still get 1 s
			var deregistered, drained time.Time
			seq.BeforeDrain("deregister", func(ctx context.Context) error {
				time.Sleep(700 * time.Millisecond) // a slow registry
				deregistered = time.Now()
				return nil
			})
			srv := newFakeServer()
			close(srv.inFlight)
			seq.Serve("http", srv.serve, func(ctx context.Context) error { drained = time.Now(); return srv.drain(ctx) })
			start := time.Now()
			seq.Trigger("test")
			require.NoError(t, seq.Wait())
			assert.Equal(t, 700*time.Millisecond, deregistered.Sub(start))
			assert.Equal(t, deregistered, drained, "the drain waited for the hook, past the delay")
			tl := seq.Timeline()
			require.Len(t, tl.Steps, 2)
			assert.Equal(t, shutdown.PhaseBeforeDrain, tl.Steps[0].Phase)
			assert.Equal(t, "deregister", tl.Steps[0].Name)
			assert.Equal(t, 700*time.Millisecond, tl.Steps[0].Duration)
		})
	})
	t.Run("a hook past its budget is abandoned", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			seq, _ := newSequence(t, shutdown.WithPropagationDelay(time.Second))
			ctxEnd := make(chan time.Time, 1)
			seq.BeforeDrain("lease", func(ctx context.Context) error {
				<-ctx.Done()
				ctxEnd <- time.Now()
				<-release
				return nil
			})
			errLeave := errors.New("registry down")
			seq.BeforeDrain("leave", func(context.Context) error { return errLeave })
			start := time.Now()
			seq.Trigger("test")
			err := seq.Wait()
			require.ErrorIs(t, err, shutdown.ErrAbandoned)
			require.ErrorIs(t, err, errLeave)
			assert.Equal(t, 900*time.Millisecond, (<-ctxEnd).Sub(start), "the hooks' time is the delay, less the slack to return")
			assert.Equal(t, time.Second, seq.Timeline().DrainStartedAt.Sub(start), "the hooks did not hold the drains past the delay")
		})
	})
	t.Run("added after the trigger", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			seq, _ := newSequence(t, shutdown.WithPropagationDelay(0))
			seq.Trigger("test")
			seq.BeforeDrain("late", func(context.Context) error { t.Error("ran"); return nil })
			require.NoError(t, seq.Wait())
		})
	})
}

func TestObserver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var steps []shutdown.Step
		seq, _ := newSequence(t, shutdown.WithPropagationDelay(time.Second), shutdown.WithObserver(func(st shutdown.Step) {
			mu.Lock()
			defer mu.Unlock()
			steps = append(steps, st)
		}))
		seq.BeforeDrain("deregister", func(context.Context) error { return nil })
		srv := newFakeServer()
		close(srv.inFlight)
		seq.Serve("http", srv.serve, srv.drain)
		seq.AfterDrain("db", func(context.Context) error { time.Sleep(50 * time.Millisecond); return nil })
		seq.Trigger("test")
		require.NoError(t, seq.Wait())
		require.Len(t, steps, 3)
		assert.Equal(t, []shutdown.Phase{shutdown.PhaseBeforeDrain, shutdown.PhaseDrain, shutdown.PhaseAfterDrain},
			[]shutdown.Phase{steps[0].Phase, steps[1].Phase, steps[2].Phase})
		assert.Equal(t, 50*time.Millisecond, steps[2].Duration)
	})
}

// TestLogKeys: the sequence's log lines use keys of their own: no second
// "time" (jq kept the step's budget as the timestamp); "source" names
// the trigger, on the trigger's line only; errors are logged at ERROR.
func TestLogKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs countingWriter
		seq, _ := newSequence(t, shutdown.WithLogger(logs.logger()), shutdown.WithPropagationDelay(0))
		seq.AfterDrain("db", func(context.Context) error { return nil })
		seq.AfterDrain("journal", func(context.Context) error { return errors.New("disk full") })
		seq.Trigger("test")
		require.Error(t, seq.Wait())
		logs.mu.Lock()
		defer logs.mu.Unlock()
		require.NotEmpty(t, logs.lines)
		for _, line := range logs.lines {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m), line)
			assert.Equal(t, 1, strings.Count(line, `"time":`), line)
			if m["msg"] != "shutdown: triggered" {
				assert.NotContains(t, m, "source", line)
			}
			if _, ok := m["err"]; ok {
				assert.Equal(t, "ERROR", m["level"], line)
			}
		}
	})
}
