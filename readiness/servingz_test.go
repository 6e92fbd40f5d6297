package readiness_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/readiness"
	"github.com/lameduck/lameduck/shutdown"
	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

// at returns a handler that serves every request as a GET of path on p.
func at(p *readiness.Probe, path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil).WithContext(r.Context()))
	})
}

// inProcess returns a Sequence made in an in-process process (package
// shutdowntest), and a channel whose signals that process gets. A forced
// exit fails the test.
func inProcess(t *testing.T, opts ...shutdown.Option) (*shutdown.Sequence, chan<- os.Signal) {
	t.Helper()
	made, stop := make(chan *shutdown.Sequence, 1), make(chan struct{})
	p := shutdowntest.InProcess(func(opt shutdown.Option) error {
		seq, err := shutdown.New(append(opts, opt)...)
		made <- seq
		if err == nil {
			<-stop
		}
		return err
	})
	seq := <-made
	require.NotNil(t, seq)
	sigs := make(chan os.Signal, 1)
	go func() {
		for {
			select {
			case sig := <-sigs:
				_ = p.Signal(sig)
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.Exited():
			t.Errorf("exit(%d)", p.ExitCode())
		default:
		}
		close(stop)
		<-p.Exited()
	})
	return seq, sigs
}

// probeCode returns the status and body h answers to a GET.
func probeCode(h http.Handler) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

// TestServingzByTrigger: /servingz keeps passing through the propagation
// delay after a termination (a signal or /prestop) and fails when the
// drains start; after any other trigger it fails at once. /readyz fails
// at the trigger whatever the trigger.
func TestServingzByTrigger(t *testing.T) {
	const delay = 5 * time.Second
	tests := []struct {
		name        string
		trigger     func(*shutdown.Sequence, chan<- os.Signal)
		servesDelay bool // /servingz passes during the delay
		wantDelay   time.Duration
	}{
		{"SIGTERM", func(_ *shutdown.Sequence, c chan<- os.Signal) { c <- syscall.SIGTERM }, true, delay},
		{"prestop", func(s *shutdown.Sequence, _ chan<- os.Signal) {
			go probeCode(s.PrestopHandler()) // the kubelet's hook, answered when the delay is over
		}, true, delay},
		{"SIGINT", func(_ *shutdown.Sequence, c chan<- os.Signal) { c <- os.Interrupt }, false, 0},
		{"Trigger", func(s *shutdown.Sequence, _ chan<- os.Signal) { s.Trigger("rebalance") }, false, delay},
		{"Fail", func(s *shutdown.Sequence, _ chan<- os.Signal) { s.Fail(errors.New("db lost")) }, false, delay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				seq, sigs := inProcess(t, shutdown.WithPropagationDelay(delay),
					shutdown.WithLogger(slog.New(slog.DiscardHandler)))
				p := readiness.New(seq)
				readyz, servingz := at(p, "/readyz"), at(p, "/servingz")
				p.SetReady()
				for _, h := range []http.Handler{readyz, servingz} {
					code, _ := probeCode(h)
					require.Equal(t, http.StatusOK, code, "ready before the trigger")
				}
				errc := make(chan error, 1)
				go func() { errc <- seq.Wait() }()
				synctest.Wait()

				tt.trigger(seq, sigs)
				synctest.Wait()
				code, body := probeCode(readyz)
				assert.Equal(t, http.StatusServiceUnavailable, code, "/readyz fails at the trigger")
				assert.Equal(t, "readiness: not ready: lame duck", body)
				code, body = probeCode(servingz)
				if !tt.servesDelay {
					assert.Equal(t, http.StatusServiceUnavailable, code, "/servingz fails at once: %s", body)
					assert.True(t, strings.HasPrefix(body, "readiness: not ready: "), body)
				} else {
					assert.Equal(t, http.StatusOK, code, "/servingz passes at the trigger: %s", body)
					time.Sleep(delay - time.Millisecond)
					code, body = probeCode(servingz)
					assert.Equal(t, http.StatusOK, code, "/servingz passes to the end of the delay: %s", body)
					time.Sleep(time.Millisecond)
					synctest.Wait()
					code, body = probeCode(servingz)
					assert.Equal(t, http.StatusServiceUnavailable, code, "/servingz fails once the drains start")
					assert.Equal(t, "readiness: not ready: draining", body)
				}
				err := <-errc
				if tt.name == "Fail" {
					require.Error(t, err)
				} else {
					require.NoError(t, err)
				}
				assert.Equal(t, tt.wantDelay, seq.Timeline().Delay)
			})
		})
	}
}

// TestServingzNeverStarted: a process terminated before its start-up
// completed never served, and /servingz keeps failing.
func TestServingzNeverStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq, sigs := inProcess(t, shutdown.WithLogger(slog.New(slog.DiscardHandler)))
		p := readiness.New(seq)
		sigs <- syscall.SIGTERM
		synctest.Wait()
		p.SetReady() // too late
		code, body := probeCode(at(p, "/servingz"))
		assert.Equal(t, http.StatusServiceUnavailable, code)
		assert.Equal(t, "readiness: not ready: lame duck", body)
		require.NoError(t, seq.Wait())
	})
}

// TestServingzRunsChecks: /servingz runs the checks before the trigger and
// through a termination's delay; a failing check fails it.
func TestServingzRunsChecks(t *testing.T) {
	tl := &termLifecycle{trig: make(chan struct{}), drain: make(chan struct{})}
	p := readiness.New(tl)
	dbErr := errors.New("connection refused")
	var failing bool
	p.AddCheck("db", func(context.Context) error {
		if failing {
			return dbErr
		}
		return nil
	})
	p.SetReady()
	tl.terminating = true
	close(tl.trig)
	code, _ := probeCode(at(p, "/servingz"))
	assert.Equal(t, http.StatusOK, code)
	failing = true
	code, body := probeCode(at(p, "/servingz"))
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, `readiness: not ready: check "db": connection refused`, body)
	require.ErrorIs(t, p.Serving(context.Background()), dbErr)
}

// TestServingzWithoutTerminatingLifecycle: a Lifecycle that does not tell
// the trigger's kind makes /servingz fail at the trigger, like /readyz; so
// does the zero Probe made a lame duck.
func TestServingzWithoutTerminatingLifecycle(t *testing.T) {
	tr := make(trigger)
	p := readiness.New(tr)
	p.SetReady()
	close(tr)
	var zero readiness.Probe
	zero.SetReady()
	zero.SetLameDuck()
	for _, p := range []*readiness.Probe{p, &zero} {
		code, body := probeCode(at(p, "/servingz"))
		assert.Equal(t, http.StatusServiceUnavailable, code)
		assert.Equal(t, "readiness: not ready: lame duck", body)
	}
}

// termLifecycle is a stand-in for the sequence that tells its trigger's kind.
type termLifecycle struct {
	trig, drain chan struct{}
	terminating bool
}

func (l *termLifecycle) Triggered() <-chan struct{}    { return l.trig }
func (l *termLifecycle) DrainStarted() <-chan struct{} { return l.drain }
func (l *termLifecycle) Terminating() bool             { return l.terminating }

// trackingLifecycle is a stand-in for the sequence that tracks whether
// readiness was advertised.
type trackingLifecycle struct {
	trigger
	tracked int
	mayTell bool
	reports []bool
}

func (l *trackingLifecycle) TrackReadiness() func(bool) bool {
	l.tracked++
	return func(ready bool) bool { l.reports = append(l.reports, ready); return ready && l.mayTell }
}

// TestHandlersReport: New tracks readiness once, /readyz and /servingz
// report each answer, and answer 503 when the sequence may no longer be told the
// process is ready (it was triggered, and skipped its delay, before any
// answer said ready).
func TestHandlersReport(t *testing.T) {
	l := &trackingLifecycle{trigger: make(trigger), mayTell: true}
	p := readiness.New(l)
	assert.Equal(t, 1, l.tracked, "New tracks, once")
	readyz, servingz := at(p, "/readyz"), at(p, "/servingz")
	assert.Equal(t, 1, l.tracked)

	code, _ := probeCode(readyz)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	p.SetReady()
	for _, h := range []http.Handler{readyz, servingz} {
		code, _ := probeCode(h)
		assert.Equal(t, http.StatusOK, code)
	}
	assert.Equal(t, []bool{false, true, true}, l.reports)

	l.mayTell = false
	for _, h := range []http.Handler{readyz, servingz} {
		code, body := probeCode(h)
		assert.Equal(t, http.StatusServiceUnavailable, code)
		assert.Equal(t, "readiness: not ready: lame duck", body)
	}
}
