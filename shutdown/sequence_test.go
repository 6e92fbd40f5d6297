package shutdown_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
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
			t.Parallel()
			seq, sigs := newSequence(t, shutdown.WithPropagationDelay(delay))
			var mu sync.Mutex
			var events []string
			record := func(name string) func(context.Context) error {
				return func(context.Context) error {
					mu.Lock()
					defer mu.Unlock()
					// The phases are visible to steps in the documented order.
					select {
					case <-seq.Triggered():
					default:
						t.Error("step ran before Triggered")
					}
					select {
					case <-seq.Draining():
					default:
						t.Error("step ran before Draining")
					}
					events = append(events, name)
					return nil
				}
			}
			seq.Add("first", record("first"))
			seq.Add("second", record("second"))
			seq.Add("third", record("third"))
			errc := waitAsync(seq)
			requireOpen(t, seq.Triggered(), "Triggered")
			require.NoError(t, seq.Context().Err())

			tt.trigger(seq, sigs)
			requireClosed(t, seq.Triggered(), "Triggered")
			assert.ErrorIs(t, context.Cause(seq.Context()), shutdown.ErrTriggered)
			require.NoError(t, recvErr(t, errc))
			requireClosed(t, seq.Done(), "Done")

			assert.Equal(t, []string{"first", "second", "third"}, events)
			tl := seq.Timeline()
			assert.Equal(t, tt.source, tl.Source)
			assert.Equal(t, tt.wantDelay, tl.Delay)
			assert.GreaterOrEqual(t, tl.DrainStarted.Sub(tl.Triggered), tt.wantDelay)
			require.Len(t, tl.Steps, 3)
			for i, name := range []string{"first", "second", "third"} {
				assert.Equal(t, name, tl.Steps[i].Name)
				assert.NoError(t, tl.Steps[i].Err)
				assert.False(t, tl.Steps[i].Started.Before(tl.DrainStarted))
			}
			assert.False(t, tl.Finished.Before(tl.Steps[2].Started))
			assert.Positive(t, tl.BudgetLeft())
			assert.Equal(t, tl.Finished.Sub(tl.Triggered), tl.Total())
		})
	}
}

func TestLaterTriggersJoin(t *testing.T) {
	seq, sigs := newSequence(t, shutdown.WithPropagationDelay(delay))
	runs := 0
	seq.Add("once", func(context.Context) error { runs++; return nil })
	errc := waitAsync(seq)
	seq.Trigger("first")
	seq.Trigger("second")
	sigs <- syscall.SIGTERM // the first signal joins a running sequence
	require.NoError(t, recvErr(t, errc))
	assert.Equal(t, 1, runs)
	assert.Equal(t, "first", seq.Timeline().Source)
	assert.Equal(t, delay, seq.Timeline().Delay, "a signal joining a running sequence keeps its delay")
	require.NoError(t, seq.Wait(), "Wait may be called again")
}

func TestHungStepCannotHoldWaitPastDeadline(t *testing.T) {
	const grace, margin = 2 * time.Second, 500 * time.Millisecond
	seq, _ := newSequence(t,
		shutdown.WithGracePeriod(grace), shutdown.WithSafetyMargin(margin),
		shutdown.WithPropagationDelay(0), shutdown.WithStepReserve(300*time.Millisecond))
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // lets the abandoned step end before goleak looks
	var ctxDone sync.WaitGroup
	ctxDone.Add(1)
	seq.Add("hangs", func(ctx context.Context) error {
		<-ctx.Done()
		ctxDone.Done()
		<-release // ignores its context
		return nil
	})
	closed := false
	seq.Add("db", func(context.Context) error { closed = true; return nil })

	errc := waitAsync(seq)
	seq.Trigger("test")
	err := recvErr(t, errc)
	ctxDone.Wait()

	tl := seq.Timeline()
	require.ErrorIs(t, err, shutdown.ErrAbandoned)
	assert.Contains(t, err.Error(), `step "hangs"`)
	assert.True(t, closed, "the step after the hung one still ran")
	assert.False(t, tl.Finished.After(tl.Deadline), "Wait returned %v after the deadline", tl.Finished.Sub(tl.Deadline))
	require.Len(t, tl.Steps, 2)
	assert.True(t, tl.Steps[0].Abandoned)
	assert.NoError(t, tl.Steps[1].Err)
	// The hung step gave up its time at the reserve kept for "db".
	assert.InDelta(t, (grace - margin - 300*time.Millisecond).Seconds(), tl.Steps[1].Started.Sub(tl.Triggered).Seconds(), 1.0)
}

func TestPanickingStep(t *testing.T) {
	seq, _ := newSequence(t, shutdown.WithPropagationDelay(0))
	seq.Add("boom", func(context.Context) error { panic("nil map") })
	seq.Add("fails", func(context.Context) error { return errors.New("disk full") })
	after := false
	seq.Add("after", func(context.Context) error { after = true; return nil })
	errc := waitAsync(seq)
	seq.Trigger("test")
	err := recvErr(t, errc)
	require.ErrorIs(t, err, shutdown.ErrPanicked)
	assert.Contains(t, err.Error(), `shutdown: step "boom": shutdown: step panicked: nil map`)
	assert.Contains(t, err.Error(), `shutdown: step "fails": disk full`)
	assert.True(t, after)
}

func TestSecondSignalForcesExit(t *testing.T) {
	tests := []struct {
		name  string
		steps bool // the second signal arrives during a step rather than the delay
	}{{"during the delay", false}, {"during a step", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exited := make(chan int, 1)
			d := time.Hour / 4
			if tt.steps {
				d = 0
			}
			seq, sigs := newSequence(t, shutdown.WithGracePeriod(time.Hour), shutdown.WithPropagationDelay(d),
				shutdown.WithExit(func(code int) { exited <- code }), shutdown.WithForceExitCode(3))
			release := make(chan struct{})
			defer close(release)
			started := make(chan struct{})
			seq.Add("slow", func(context.Context) error { close(started); <-release; return nil })
			errc := waitAsync(seq)
			sigs <- syscall.SIGTERM
			if tt.steps {
				requireClosed(t, started, "step start")
			} else {
				requireClosed(t, seq.Triggered(), "Triggered")
			}
			sigs <- syscall.SIGTERM
			select {
			case code := <-exited:
				assert.Equal(t, 3, code)
			case <-time.After(wait):
				t.Fatal("a second signal did not force exit")
			}
			require.ErrorIs(t, recvErr(t, errc), shutdown.ErrForcedExit)
		})
	}
}

func TestStepAddedWhileRunning(t *testing.T) {
	seq, _ := newSequence(t, shutdown.WithPropagationDelay(0))
	var order []string
	seq.Add("first", func(context.Context) error {
		seq.Add("added", func(context.Context) error { order = append(order, "added"); return nil })
		order = append(order, "first")
		return nil
	})
	errc := waitAsync(seq)
	seq.Trigger("test")
	require.NoError(t, recvErr(t, errc))
	assert.Equal(t, []string{"first", "added"}, order)

	seq.Add("late", func(context.Context) error { t.Error("a step added after Done ran"); return nil })
	require.NoError(t, seq.Wait())
}

func TestAddNilPanics(t *testing.T) {
	seq, _ := newSequence(t)
	assert.PanicsWithValue(t, "shutdown: Add(x) with a nil step", func() { seq.Add("x", nil) })
}

func TestStepContextCarriesDeadline(t *testing.T) {
	seq, _ := newSequence(t, shutdown.WithPropagationDelay(0), shutdown.WithGracePeriod(10*time.Second))
	var got time.Time
	seq.Add("look", func(ctx context.Context) error {
		var ok bool
		got, ok = ctx.Deadline()
		require.True(t, ok)
		return nil
	})
	errc := waitAsync(seq)
	seq.Trigger("test")
	require.NoError(t, recvErr(t, errc))
	tl := seq.Timeline()
	assert.False(t, got.After(tl.Deadline))
	assert.InDelta(t, tl.Deadline.Sub(tl.Triggered).Seconds(), got.Sub(tl.Triggered).Seconds(), 0.2)
}
