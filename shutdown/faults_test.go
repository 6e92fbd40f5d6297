package shutdown_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
)

// TestClosedSignalSource: closing the channel given as the signal source
// means no more signals; it used to crash the process with a nil-pointer
// panic (7/7).
func TestClosedSignalSource(t *testing.T) {
	for _, when := range []string{"before the trigger", "after the first signal"} {
		t.Run(when, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := make(chan os.Signal, 1)
				seq, _ := newSequence(t, testHooks(src, nil), shutdown.WithPropagationDelay(time.Second))
				start := time.Now()
				if when == "after the first signal" {
					src <- syscall.SIGTERM
				}
				close(src)
				synctest.Wait()
				if when == "before the trigger" {
					assert.False(t, closed(seq.Triggered()), "a closed source is not a signal")
					seq.Trigger("test")
				}
				require.NoError(t, seq.Wait())
				assert.Equal(t, time.Second, time.Since(start))
			})
		})
	}
}

// TestClosedSignalSourceKeepsTheBackstop: with the source closed and Wait
// never called, the backstop still forces the exit on time.
func TestClosedSignalSourceKeepsTheBackstop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := make(chan os.Signal)
		exited := make(chan int, 1)
		seq, _ := newSequence(t, testHooks(src, nil), shutdown.WithGracePeriod(10*time.Second),
			testHooks(nil, func(code int) { exited <- code }))
		close(src)
		start := time.Now()
		seq.Trigger("test")
		assert.Equal(t, 1, <-exited)
		assert.Equal(t, 9*time.Second, time.Since(start), "deadline + half the margin")
		require.ErrorIs(t, seq.Wait(), shutdown.ErrForcedExit)
	})
}

// TestPanicErrorIsOneLine: a panic value with newlines gives a one-line
// message; the value and the stack stay available.
func TestPanicErrorIsOneLine(t *testing.T) {
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"plain", "nil map", "panic: nil map"},
		{"newlines", "first\nsecond\r\nthird", `panic: "first\nsecond\r\nthird"`},
		{"error with newlines", errors.New("a\nb"), `panic: "a\nb"`},
		{"nil", nil, "panic: <nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := &shutdown.PanicError{Value: tt.value, Stack: []byte("goroutine 1\nmain.main()")}
			assert.Equal(t, tt.want, err.Error())
		})
	}
	synctest.Test(t, func(t *testing.T) {
		seq, _ := newSequence(t, shutdown.WithPropagationDelay(0))
		seq.AfterDrain("boom", func(context.Context) error { panic("line one\nline two") })
		seq.Trigger("test")
		err := seq.Wait()
		require.ErrorAs(t, err, new(*shutdown.PanicError))
		assert.Equal(t, `shutdown: step "boom": panic: "line one\nline two"`, err.Error())
		var pe *shutdown.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "line one\nline two", pe.Value)
		assert.Contains(t, string(pe.Stack), "TestPanicErrorIsOneLine")
	})
}

// TestServePanics: a serve function that panics is recovered like a
// worker's panic: the sequence fails with a PanicError naming the server,
// and the other drains and the after-drain steps still run. It used to crash the
// process (7/7).
func TestServePanics(t *testing.T) {
	for _, when := range []string{"during start-up", "while serving", "at the drain"} {
		t.Run(when, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				seq, _ := newSequence(t, shutdown.WithPropagationDelay(time.Second))
				other := newFakeServer()
				close(other.inFlight)
				otherDrained := false
				seq.Serve("admin", other.serve, func(ctx context.Context) error { otherDrained = true; return other.drain(ctx) })
				stop, crash := make(chan struct{}), make(chan struct{})
				seq.Serve("http", func() error {
					select {
					case <-stop:
					case <-crash:
					}
					panic("serve: index out of range\n[3] with length 3")
				}, func(context.Context) error {
					close(stop)
					return nil
				})
				closedDB := false
				seq.AfterDrain("db", func(context.Context) error { closedDB = true; return nil })
				var errc <-chan error
				start := time.Now()
				switch when {
				case "during start-up":
					close(crash)
					synctest.Wait()
					assert.True(t, closed(seq.Triggered()), "the panic triggers the sequence")
					errc = waitAsync(seq)
				case "while serving":
					errc = waitAsync(seq)
					synctest.Wait()
					close(crash)
				case "at the drain":
					errc = waitAsync(seq)
					seq.Trigger("test")
				}
				err := <-errc
				require.ErrorAs(t, err, new(*shutdown.PanicError))
				var pe *shutdown.PanicError
				require.ErrorAs(t, err, &pe)
				assert.Contains(t, string(pe.Stack), "TestServePanics")
				assert.Contains(t, err.Error(), `shutdown: step "http": panic: "serve: index out of range\n[3] with length 3"`)
				assert.Equal(t, 1, strings.Count(err.Error(), "index out of range"), "reported once")
				assert.True(t, otherDrained, "the other server drained")
				assert.True(t, closedDB, "the after-drain steps ran")
				wantDelay := time.Second
				if when == "during start-up" {
					wantDelay = 0
				}
				assert.Equal(t, wantDelay, time.Since(start))
			})
		})
	}
}

// TestBeforeDrainWithoutDelay: with no propagation delay (SIGINT, a delay
// of 0, a failure during start-up) the hooks get a budget of their own,
// beforeDrainMinimum: a hook that returns nil at once is not abandoned
// (it was, 200/200, so every Ctrl-C exited non-zero), its context is not
// done when it starts, and a slow hook holds the drains only as long as it
// runs.
func TestBeforeDrainWithoutDelay(t *testing.T) {
	errListen := errors.New("listen tcp :8080: bind: address already in use")
	triggers := []struct {
		name    string
		opts    []shutdown.Option
		trigger func(*shutdown.Sequence, chan<- os.Signal)
		wantErr error
	}{
		{"SIGINT", nil, func(_ *shutdown.Sequence, c chan<- os.Signal) { c <- os.Interrupt }, nil},
		{"delay 0", []shutdown.Option{shutdown.WithPropagationDelay(0)}, func(s *shutdown.Sequence, _ chan<- os.Signal) { s.Trigger("test") }, nil},
		{"failure during start-up", nil, func(s *shutdown.Sequence, _ chan<- os.Signal) { s.Fail(errListen) }, errListen},
	}
	hooks := []struct {
		name      string
		takes     time.Duration // how long the hook runs; 0: at once, -1: until its context ends, and on
		wantDrain time.Duration // when the drains start, from the trigger
		abandoned bool
	}{
		{"returns at once", 0, 0, false},
		{"returns within the budget", 700 * time.Millisecond, 700 * time.Millisecond, false},
		{"hangs", -1, beforeDrainMinimum, true},
	}
	for _, tr := range triggers {
		for _, h := range hooks {
			t.Run(tr.name+"/"+h.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					release := make(chan struct{})
					defer close(release)
					seq, sigs := newSequence(t, tr.opts...)
					var ctxErrAtStart error
					var ctxDeadline time.Time
					seq.BeforeDrain("deregister", func(ctx context.Context) error {
						ctxErrAtStart = ctx.Err()
						ctxDeadline, _ = ctx.Deadline()
						switch {
						case h.takes > 0:
							time.Sleep(h.takes)
						case h.takes < 0:
							<-ctx.Done()
							<-release
						}
						return nil
					})
					srv := newFakeServer()
					close(srv.inFlight)
					seq.Serve("http", srv.serve, srv.drain)
					start := time.Now()
					tr.trigger(seq, sigs)
					err := seq.Wait()
					switch {
					case h.abandoned:
						require.ErrorIs(t, err, shutdown.ErrAbandoned)
					case tr.wantErr != nil:
						require.ErrorIs(t, err, tr.wantErr)
						require.NotErrorIs(t, err, shutdown.ErrAbandoned)
					default:
						require.NoError(t, err)
					}
					assert.NoError(t, ctxErrAtStart, "the hook's context was already done when it started")
					assert.Equal(t, start.Add(beforeDrainMinimum-100*time.Millisecond), ctxDeadline)
					tl := seq.Timeline()
					assert.Zero(t, tl.Delay)
					assert.Equal(t, h.wantDrain, tl.DrainStartedAt.Sub(start))
					require.NotEmpty(t, tl.Steps)
					assert.Equal(t, shutdown.PhaseBeforeDrain, tl.Steps[0].Phase)
					assert.Equal(t, h.abandoned, tl.Steps[0].Abandoned)
				})
			})
		}
	}
}

// TestBeforeDrainTimeRule: the hooks' time, from the trigger, for each
// configuration: the delay applied, but at least 1 s, and that floor at
// most half the time to the deadline.
func TestBeforeDrainTimeRule(t *testing.T) {
	tests := []struct {
		name   string
		opts   []shutdown.Option
		sigint bool
		want   time.Duration
	}{
		{"the delay", []shutdown.Option{shutdown.WithPropagationDelay(3 * time.Second)}, false, 3 * time.Second},
		{"a short delay gets the minimum", []shutdown.Option{shutdown.WithPropagationDelay(200 * time.Millisecond)}, false, beforeDrainMinimum},
		{"SIGINT gets the minimum", nil, true, beforeDrainMinimum},
		{"the minimum takes at most half the budget", []shutdown.Option{shutdown.WithGracePeriod(2500 * time.Millisecond),
			shutdown.WithSafetyMargin(time.Second), shutdown.WithPropagationDelay(0)}, false, 750 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				defer close(release)
				seq, sigs := newSequence(t, tt.opts...)
				seq.BeforeDrain("hangs", func(ctx context.Context) error { <-release; return nil })
				start := time.Now()
				if tt.sigint {
					sigs <- os.Interrupt
				} else {
					seq.Trigger("test")
				}
				require.ErrorIs(t, seq.Wait(), shutdown.ErrAbandoned)
				tl := seq.Timeline()
				require.NotEmpty(t, tl.Steps)
				assert.Equal(t, tt.want, tl.Steps[0].Duration)
				assert.Equal(t, max(tt.want, tl.Delay), tl.DrainStartedAt.Sub(start))
			})
		})
	}
}

// TestFailWhileWaitFinishes: every Fail that returns before Wait's result
// is made is in it. A Fail made while Wait was finishing was missing from
// it in 0.2–4.2 % of calls (it was still logged). Real goroutines race
// here, so this runs many sequences; each failer calls Fail until the
// result is made, and notes which calls returned before. Each run checks
// hundreds of calls: with a gap put back between the result and the
// finished mark, 60 runs failed the test in 10 runs of 10.
func TestFailWhileWaitFinishes(t *testing.T) {
	t.Parallel() // real goroutines: overlaps with the other real-time tests
	const runs, failers, maxFails = 60, 2, 1000
	missing, checked := 0, 0
	for range runs {
		seq, _ := newSequence(t, shutdown.WithPropagationDelay(0), shutdown.WithLogger(discard))
		seq.AfterDrain("db", func(context.Context) error { return nil })
		type made struct {
			err    error
			before bool // Fail returned before Done closed
		}
		results := make(chan []made, failers)
		start := make(chan struct{})
		for f := range failers {
			go func() {
				var mine []made
				<-start
				for i := 0; i < maxFails; i++ {
					err := fmt.Errorf("failure %d.%d", f, i)
					seq.Fail(err)
					before := seq.Timeline().FinishedAt.IsZero() // Wait's result is not made yet
					mine = append(mine, made{err, before})
					if !before {
						break
					}
				}
				results <- mine
			}()
		}
		seq.Trigger("test")
		close(start)
		in := leaves(recvErr(t, waitAsync(seq)))
		for range failers {
			for _, m := range <-results {
				if m.before {
					checked++
					if !in[m.err] {
						missing++
					}
				}
			}
		}
	}
	assert.Zero(t, missing, "%d of %d failures made before Wait's result was made are missing from it", missing, checked)
}

var discard = slog.New(slog.DiscardHandler)

// leaves returns every error in err's tree.
func leaves(err error) map[error]bool {
	set := map[error]bool{}
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		set[e] = true
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return set
}

// TestObserverCannotStallTheSequence: an observer that blocks on the
// first step (a hook that returns at the trigger), panics, or calls Fail
// stopped the whole sequence (7/7): no drain, no backstop, a second signal
// ignored, Fail deadlocking Trigger. The sequence must run as if it were
// not there.
func TestObserverCannotStallTheSequence(t *testing.T) {
	errObserved := errors.New("observer saw the hook")
	observers := []struct {
		name    string
		observe func(release <-chan struct{}, seq **shutdown.Sequence) func(shutdown.Step)
		wantErr error
	}{
		{"blocks", func(release <-chan struct{}, _ **shutdown.Sequence) func(shutdown.Step) {
			return func(st shutdown.Step) {
				if st.Phase == shutdown.PhaseBeforeDrain {
					<-release
				}
			}
		}, nil},
		{"panics", func(<-chan struct{}, **shutdown.Sequence) func(shutdown.Step) {
			return func(shutdown.Step) { panic("metrics: nil map\nin observe") }
		}, nil},
		{"calls Fail", func(_ <-chan struct{}, seq **shutdown.Sequence) func(shutdown.Step) {
			return func(st shutdown.Step) {
				if st.Phase == shutdown.PhaseBeforeDrain {
					(*seq).Fail(errObserved)
				}
			}
		}, errObserved},
	}
	hook := func(context.Context) error { return nil } // its step reaches the observer at the trigger
	for _, o := range observers {
		t.Run(o.name+"/drains and closes", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				defer close(release)
				var seq *shutdown.Sequence
				var logs countingWriter
				seq, _ = newSequence(t, shutdown.WithPropagationDelay(time.Second), shutdown.WithLogger(logs.logger()),
					shutdown.WithObserver(o.observe(release, &seq)))
				seq.BeforeDrain("lease", hook)
				srv := newFakeServer()
				close(srv.inFlight)
				drained, closedDB := false, false
				seq.Serve("http", srv.serve, func(ctx context.Context) error { drained = true; return srv.drain(ctx) })
				seq.AfterDrain("db", func(context.Context) error { closedDB = true; return nil })
				start := time.Now()
				seq.Trigger("test")
				assert.Zero(t, time.Since(start), "Trigger returned at once")
				err := seq.Wait()
				if o.wantErr != nil {
					require.ErrorIs(t, err, o.wantErr)
				} else {
					require.NoError(t, err)
				}
				assert.True(t, drained)
				assert.True(t, closedDB)
				if o.name == "blocks" {
					tl := seq.Timeline()
					assert.Equal(t, tl.Deadline, time.Now(), "Wait waited for the observer until the deadline, no later")
				} else {
					assert.Equal(t, time.Second, time.Since(start), "the sequence took the delay, nothing more")
				}
				if o.name == "panics" {
					assert.Equal(t, 3, logs.count("shutdown: observer panicked"), "each panic logged once: three steps")
					assert.Equal(t, 3, logs.count(`"stack":"goroutine`), "with its stack")
				}
			})
		})
		t.Run(o.name+"/second signal forces the exit", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				defer close(release)
				exited := make(chan int, 1)
				var seq *shutdown.Sequence
				seq, sigs := newSequence(t, shutdown.WithPropagationDelay(time.Minute), shutdown.WithGracePeriod(time.Hour),
					testHooks(nil, func(code int) { exited <- code }), shutdown.WithObserver(o.observe(release, &seq)))
				seq.BeforeDrain("lease", hook)
				errc := waitAsync(seq)
				sigs <- syscall.SIGTERM
				time.Sleep(time.Second)
				sigs <- syscall.SIGTERM
				assert.Equal(t, 1, <-exited)
				require.ErrorIs(t, <-errc, shutdown.ErrForcedExit)
			})
		})
		t.Run(o.name+"/the backstop arms", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				defer close(release)
				exited := make(chan int, 1)
				var seq *shutdown.Sequence
				seq, _ = newSequence(t, shutdown.WithGracePeriod(10*time.Second),
					testHooks(nil, func(code int) { exited <- code }), shutdown.WithObserver(o.observe(release, &seq)))
				seq.BeforeDrain("lease", hook)
				start := time.Now()
				seq.Trigger("test") // Wait never called: start-up hung
				assert.Equal(t, 1, <-exited)
				assert.Equal(t, 9*time.Second, time.Since(start), "deadline + half the margin")
				require.ErrorIs(t, seq.Wait(), shutdown.ErrForcedExit)
			})
		})
	}
}

// TestObserverDelivery: steps reach the observer in the order they
// finish, one call at a time, and Wait returns once the observer has
// returned from the last one.
func TestObserverDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var names []string
		var journalErr error
		calls := 0 // not guarded: one call at a time, or -race reports it
		errBoom := errors.New("journal: disk full")
		seq, _ := newSequence(t, shutdown.WithPropagationDelay(time.Second), shutdown.WithObserver(func(st shutdown.Step) {
			calls++
			time.Sleep(300 * time.Millisecond) // a slow exporter
			names = append(names, string(st.Phase)+"/"+st.Name)
			if st.Name == "journal" {
				journalErr = st.Err
			}
		}))
		seq.BeforeDrain("deregister", func(context.Context) error { return nil })
		srv := newFakeServer()
		close(srv.inFlight)
		seq.Serve("http", srv.serve, srv.drain)
		seq.AfterDrain("journal", func(context.Context) error { return errBoom })
		start := time.Now()
		seq.Trigger("test")
		err := seq.Wait()
		require.ErrorIs(t, err, errBoom)
		assert.Equal(t, []string{"before-drain/deregister", "drain/http", "after-drain/journal"}, names)
		assert.Equal(t, 3, calls)
		require.ErrorIs(t, journalErr, errBoom)
		// The drains end at 1 s; the observer, busy with the hook until
		// 300 ms, gets the drain's step at 1 s and returns from the
		// journal's, the last, at 1.6 s.
		assert.Equal(t, time.Second+2*300*time.Millisecond, time.Since(start), "Wait waited for the observer")
		assert.Equal(t, time.Second, seq.Timeline().DrainStartedAt.Sub(start), "the slow observer did not hold back the drains")
	})
}

// TestUserCodeCannotHoldTheDeadline: whatever the user's functions do
// (block for ever, ignore their context, panic), Wait returns by the
// deadline and the process is never forced out.
func TestUserCodeCannotHoldTheDeadline(t *testing.T) {
	const grace, margin = 10 * time.Second, 2 * time.Second
	type register func(seq *shutdown.Sequence, block <-chan struct{})
	blockCtx := func(block <-chan struct{}) func(context.Context) error {
		return func(context.Context) error { <-block; return nil }
	}
	tests := []struct {
		name     string
		observer bool // the observer blocks on every event
		register register
	}{
		{"serve never returns", false, func(seq *shutdown.Sequence, block <-chan struct{}) {
			seq.Serve("http", func() error { <-block; return nil }, func(context.Context) error { return nil })
		}},
		{"drain ignores its context", false, func(seq *shutdown.Sequence, block <-chan struct{}) {
			srv := newFakeServer()
			seq.Serve("http", srv.serve, func(ctx context.Context) error { close(srv.stop); <-block; return nil })
		}},
		{"worker ignores its context", false, func(seq *shutdown.Sequence, block <-chan struct{}) { seq.Go("consumer", blockCtx(block)) }},
		{"hook ignores its context", false, func(seq *shutdown.Sequence, block <-chan struct{}) { seq.BeforeDrain("lease", blockCtx(block)) }},
		{"after-drain step ignores its context", false, func(seq *shutdown.Sequence, block <-chan struct{}) { seq.AfterDrain("db", blockCtx(block)) }},
		{"everything blocks and panics", true, func(seq *shutdown.Sequence, block <-chan struct{}) {
			seq.BeforeDrain("lease", func(context.Context) error { <-block; panic("lease") })
			seq.Serve("http", func() error { <-block; panic("serve") }, func(context.Context) error { <-block; panic("drain") })
			seq.Go("consumer", func(context.Context) error { <-block; panic("worker") })
			seq.AfterDrain("db", func(context.Context) error { <-block; panic("close") })
			seq.AfterDrain("journal", blockCtx(block))
		}},
	}
	for _, tt := range tests {
		for _, delay := range []time.Duration{0, 3 * time.Second} {
			t.Run(fmt.Sprintf("%s/delay %v", tt.name, delay), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					block := make(chan struct{})
					defer close(block)
					opts := []shutdown.Option{shutdown.WithGracePeriod(grace), shutdown.WithSafetyMargin(margin), shutdown.WithPropagationDelay(delay)}
					if tt.observer {
						opts = append(opts, shutdown.WithObserver(func(shutdown.Step) { <-block }))
					}
					seq, _ := newSequence(t, opts...) // its exit function fails the test
					tt.register(seq, block)
					start := time.Now()
					seq.Trigger("test")
					err := seq.Wait()
					require.ErrorIs(t, err, shutdown.ErrAbandoned)
					assert.NotErrorIs(t, err, shutdown.ErrForcedExit)
					assert.LessOrEqual(t, time.Since(start), grace-margin, "Wait returned by the deadline")
					time.Sleep(margin) // past the backstop: nothing forces an exit
				})
			})
		}
	}
}

// TestObserverGoexit: an observer that ends its goroutine with
// runtime.Goexit (as t.FailNow does) still gets the later steps.
func TestObserverGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var names []string
		seq, _ := newSequence(t, shutdown.WithPropagationDelay(0), shutdown.WithObserver(func(st shutdown.Step) {
			names = append(names, st.Name)
			if st.Name == "lease" {
				runtime.Goexit()
			}
		}))
		seq.BeforeDrain("lease", func(context.Context) error { return nil })
		seq.AfterDrain("db", func(context.Context) error { return nil })
		seq.Trigger("test")
		require.NoError(t, seq.Wait())
		assert.Equal(t, []string{"lease", "db"}, names)
	})
}
