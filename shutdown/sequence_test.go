package shutdown_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
)

const delay = 200 * time.Millisecond

func TestTriggerKinds(t *testing.T) {
	tests := []struct {
		name      string
		trigger   func(*shutdown.Sequence, chan<- os.Signal)
		source    string
		wantDelay time.Duration
	}{
		{"code", func(s *shutdown.Sequence, _ chan<- os.Signal) { s.Trigger("deploy") }, "deploy", delay},
		{"SIGTERM", func(_ *shutdown.Sequence, c chan<- os.Signal) { c <- syscall.SIGTERM }, "SIGTERM", delay},
		{"SIGINT skips the delay", func(_ *shutdown.Sequence, c chan<- os.Signal) { c <- os.Interrupt }, "SIGINT", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				seq, sigs := newSequence(t, shutdown.WithPropagationDelay(delay))
				var events []string
				record := func(name string) func(context.Context) error {
					return func(context.Context) error {
						// The phases are visible to steps in the documented order.
						assert.True(t, closed(seq.Triggered()), "step ran before Triggered")
						assert.True(t, closed(seq.DrainStarted()), "step ran before Draining")
						events = append(events, name)
						return nil
					}
				}
				seq.AfterDrain("first", record("first"))
				seq.AfterDrain("second", record("second"))
				seq.AfterDrain("third", record("third"))
				errc := waitAsync(seq)
				synctest.Wait()
				assert.False(t, closed(seq.Triggered()), "Triggered before the trigger")
				start := time.Now()
				tt.trigger(seq, sigs)
				synctest.Wait()
				assert.True(t, closed(seq.Triggered()))
				require.NoError(t, <-errc)
				assert.Equal(t, tt.wantDelay, time.Since(start), "the steps ran right after the delay")
				assert.Equal(t, []string{"first", "second", "third"}, events)
				tl := seq.Timeline()
				assert.Equal(t, tt.source, tl.Source)
				assert.Equal(t, tt.wantDelay, tl.Delay)
				assert.Len(t, tl.Steps, 3)
			})
		})
	}
}

// TestSignalDuringStartup: a SIGTERM that arrives before Wait, during a
// slow start-up, starts the sequence at once, and the deadline counts from
// the signal. (It used to be read only when Wait was called: with a 3 s
// start-up, a 4 s grace and a hung step, the process was SIGKILLed at 4 s.)
func TestSignalDuringStartup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		seq, sigs := newSequence(t, shutdown.WithGracePeriod(4*time.Second), shutdown.WithPropagationDelay(time.Second))
		seq.AfterDrain("hangs", func(context.Context) error { <-release; return nil })
		var cause error
		seq.Go("warm-up", func(ctx context.Context) error { <-ctx.Done(); cause = context.Cause(ctx); return ctx.Err() })
		start := time.Now()
		sigs <- syscall.SIGTERM
		synctest.Wait()
		assert.True(t, closed(seq.Triggered()), "Triggered closes at the signal")
		assert.ErrorIs(t, cause, shutdown.ErrTriggered, "a worker's context is cancelled at the signal")

		time.Sleep(2500 * time.Millisecond) // start-up goes on
		err := seq.Wait()
		require.ErrorIs(t, err, shutdown.ErrAbandoned)
		assert.Equal(t, 2500*time.Millisecond, time.Since(start), "the deadline (2 s after the signal) had passed: Wait returns at once")
		tl := seq.Timeline()
		assert.Equal(t, start, tl.TriggeredAt)
		assert.Equal(t, start.Add(2*time.Second), tl.Deadline)
	})
}

// TestQueuedSignalsForceExit: two SIGINTs queued before Wait force the
// exit every time (it used to happen in 38 runs of 50).
func TestQueuedSignalsForceExit(t *testing.T) {
	for range 50 {
		synctest.Test(t, func(t *testing.T) {
			exited := make(chan int, 1)
			seq, sigs := newSequence(t, testHooks(nil, func(code int) { exited <- code }))
			sigs <- os.Interrupt
			sigs <- os.Interrupt
			synctest.Wait()
			require.Len(t, exited, 1, "two signals forced the exit")
			assert.Equal(t, 1, <-exited)
			require.ErrorIs(t, seq.Wait(), shutdown.ErrForcedExit)
		})
	}
}

// TestBackstopExit: a sequence that has not finished by its deadline
// (here: Wait never called) exits before the kubelet's SIGKILL.
func TestBackstopExit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		exited := make(chan int, 1)
		seq, _ := newSequence(t, shutdown.WithGracePeriod(10*time.Second), shutdown.WithSafetyMargin(2*time.Second),
			testHooks(nil, func(code int) { exited <- code }))
		start := time.Now()
		seq.Trigger("test")
		code := <-exited
		assert.Equal(t, 1, code)
		assert.Equal(t, 9*time.Second, time.Since(start), "deadline + half the margin")
		require.ErrorIs(t, seq.Wait(), shutdown.ErrForcedExit)
	})
}

func TestLaterTriggersJoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq, sigs := newSequence(t, shutdown.WithPropagationDelay(delay))
		runs := 0
		seq.AfterDrain("once", func(context.Context) error { runs++; return nil })
		errc := waitAsync(seq)
		seq.Trigger("first")
		seq.Trigger("second")
		sigs <- syscall.SIGTERM // one signal after another trigger is not a second signal
		require.NoError(t, <-errc)
		assert.Equal(t, 1, runs)
		assert.Equal(t, "first", seq.Timeline().Source)
		assert.Equal(t, delay, seq.Timeline().Delay, "a signal joining a running sequence keeps its delay")
		require.NoError(t, seq.Wait(), "Wait may be called again")
	})
}

func TestHungStepCannotHoldWaitPastDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const grace, margin, reserve = 4 * time.Second, 500 * time.Millisecond, 400 * time.Millisecond
		seq, _ := newSequence(t,
			shutdown.WithGracePeriod(grace), shutdown.WithSafetyMargin(margin),
			shutdown.WithPropagationDelay(0), shutdown.WithAfterDrainReserve(reserve))
		release := make(chan struct{})
		defer close(release)
		seq.AfterDrain("hangs", func(ctx context.Context) error {
			<-release // ignores its context
			return nil
		})
		var closedAt time.Time
		seq.AfterDrain("db", func(context.Context) error { closedAt = time.Now(); return nil })
		seq.Trigger("test")
		err := seq.Wait()

		tl := seq.Timeline()
		require.ErrorIs(t, err, shutdown.ErrAbandoned)
		assert.Contains(t, err.Error(), `shutdown: step "hangs": abandoned at its deadline after `)
		assert.Equal(t, tl.Deadline.Add(-reserve/2), closedAt, "the hung step gave up its time at db's share of the reserve")
		assert.False(t, tl.FinishedAt.After(tl.Deadline))
		require.Len(t, tl.Steps, 2)
		assert.True(t, tl.Steps[0].Abandoned)
		assert.NoError(t, tl.Steps[1].Err)
	})
}

func TestPanickingStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq, _ := newSequence(t, shutdown.WithPropagationDelay(0))
		seq.AfterDrain("boom", func(context.Context) error { panic("nil map") })
		seq.AfterDrain("fails", func(context.Context) error { return errors.New("disk full") })
		after := false
		seq.AfterDrain("after", func(context.Context) error { after = true; return nil })
		seq.Trigger("test")
		err := seq.Wait()
		require.ErrorAs(t, err, new(*shutdown.PanicError))
		var pe *shutdown.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "nil map", pe.Value)
		assert.Contains(t, string(pe.Stack), "TestPanickingStep", "the stack is kept")
		assert.Equal(t, "shutdown: step \"boom\": panic: nil map\nshutdown: step \"fails\": disk full", err.Error(),
			"one line each, no stack in the message")
		assert.True(t, after)
	})
}

func TestPanicErrorUnwrapsItsValue(t *testing.T) {
	errValue := errors.New("boom")
	err := error(&shutdown.PanicError{Value: errValue})
	assert.ErrorAs(t, err, new(*shutdown.PanicError))
	assert.ErrorIs(t, err, errValue)
}

func TestSecondSignalForcesExit(t *testing.T) {
	for _, during := range []string{"delay", "step"} {
		t.Run(during, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				exited := make(chan int, 1)
				d := time.Hour / 4
				if during == "step" {
					d = 0
				}
				seq, sigs := newSequence(t, shutdown.WithGracePeriod(time.Hour), shutdown.WithPropagationDelay(d),
					testHooks(nil, func(code int) { exited <- code }))
				release := make(chan struct{})
				defer close(release)
				seq.AfterDrain("slow", func(context.Context) error { <-release; return nil })
				errc := waitAsync(seq)
				sigs <- syscall.SIGTERM
				time.Sleep(time.Second)
				sigs <- syscall.SIGTERM
				assert.Equal(t, 1, <-exited, "a forced exit has code 1")
				require.ErrorIs(t, <-errc, shutdown.ErrForcedExit)
			})
		})
	}
}

func TestStepAddedWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq, _ := newSequence(t, shutdown.WithPropagationDelay(0))
		var order []string
		seq.AfterDrain("first", func(context.Context) error {
			seq.AfterDrain("added", func(context.Context) error { order = append(order, "added"); return nil })
			order = append(order, "first")
			return nil
		})
		seq.Trigger("test")
		require.NoError(t, seq.Wait())
		assert.Equal(t, []string{"first", "added"}, order)

		seq.AfterDrain("late", func(context.Context) error { t.Error("a step added after Done ran"); return nil })
		require.NoError(t, seq.Wait())
	})
}

// TestAddRacingTheEnd: a step added while the sequence ends either runs or
// is logged as not run; none vanishes (34 of 2000 did).
func TestAddRacingTheEnd(t *testing.T) {
	t.Parallel() // real time: overlaps with the other real-time tests
	const n = 2000
	var logged countingWriter
	seq, _ := newSequence(t, shutdown.WithPropagationDelay(0), shutdown.WithLogger(logged.logger()))
	var mu sync.Mutex
	ran := 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			<-start
			for range n / 4 {
				seq.AfterDrain("racer", func(context.Context) error { mu.Lock(); ran++; mu.Unlock(); return nil })
			}
		})
	}
	seq.Trigger("test")
	close(start)
	require.NoError(t, seq.Wait())
	wg.Wait()
	assert.Equal(t, n, ran+logged.count("after-drain step added too late"), "ran %d, logged %d", ran, logged.count("after-drain step added too late"))
}

func TestNilFunctionsPanic(t *testing.T) {
	seq, _ := newSequence(t)
	assert.PanicsWithValue(t, `shutdown: AfterDrain("x") with a nil step`, func() { seq.AfterDrain("x", nil) })
	assert.Panics(t, func() { seq.Go("x", nil) })
	assert.Panics(t, func() { seq.Serve("x", nil, func(context.Context) error { return nil }) })
	assert.Panics(t, func() { seq.Serve("x", func() error { return nil }, nil) })
	assert.PanicsWithValue(t, "shutdown: Closer(nil): pass the pool, file or client to close", func() { shutdown.Closer(nil) })
	assert.Panics(t, func() { shutdown.FromEnv(nil) })
	assert.Panics(t, func() { shutdown.WithObserver(nil) })
	assert.Panics(t, func() { shutdown.WithLogger(nil) })
}

func TestStepContextCarriesDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq, _ := newSequence(t, shutdown.WithPropagationDelay(0), shutdown.WithGracePeriod(10*time.Second))
		var got time.Time
		seq.AfterDrain("look", func(ctx context.Context) error {
			got, _ = ctx.Deadline()
			return nil
		})
		seq.Trigger("test")
		require.NoError(t, seq.Wait())
		tl := seq.Timeline()
		assert.Equal(t, tl.Deadline.Add(-100*time.Millisecond), got, "the deadline, less the slack to return before being abandoned")
	})
}

// countingWriter counts log lines containing a text.
type countingWriter struct {
	mu    sync.Mutex
	lines []string
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, strings.Split(strings.TrimSpace(string(p)), "\n")...)
	return len(p), nil
}

func (w *countingWriter) count(text string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, l := range w.lines {
		if strings.Contains(l, text) {
			n++
		}
	}
	return n
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (w *countingWriter) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
