package shutdowntest_test

import (
	"context"
	"net/http"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

// TestTerminateDeletionGracePeriod: a deletion with a grace period of 1 s
// on a pod whose spec says 30 s. The kubelet waits for the preStop action
// 1 s, sends SIGTERM, and SIGKILL the 2 s floor later.
func TestTerminateDeletionGracePeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		got := make(chan os.Signal, 1)
		p := fakeProcess(func(s os.Signal) error { got <- s; return nil }, make(chan struct{})) // ignores SIGTERM
		k := &shutdowntest.Kubelet{GracePeriod: 30 * time.Second, DeletionGracePeriod: time.Second, PreStopSleep: 10 * time.Second}
		r := k.Terminate(context.Background(), p)
		assert.Equal(t, syscall.SIGTERM, <-got)
		assert.Equal(t, time.Second, r.PreStopDuration, "the deletion's grace period, not the spec's")
		assert.Equal(t, time.Second, r.SignalAfter)
		assert.True(t, r.Killed)
		assert.Equal(t, 3*time.Second, r.ExitAfter, "the 2 s floor after the signal")
		assert.Equal(t, 137, r.ContainerExitCode)
	})
}

// TestTerminatePreStopOutlivesTheProcess: the kubelet waits for the hook up
// to the grace period whatever the process does. A hook answered 200 just
// after the process exited is a completed hook, not an abandoned one.
// (Terminate stopped waiting when the process exited, and reported an
// answered /prestop as abandoned.)
func TestTerminatePreStopOutlivesTheProcess(t *testing.T) {
	t.Parallel()
	exited := make(chan struct{})
	url, _ := hookServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(exited) // the process exits while its hook is being answered
		time.Sleep(100 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	got := make(chan os.Signal, 1)
	p := fakeProcess(func(s os.Signal) error { got <- s; return nil }, exited)
	k := &shutdowntest.Kubelet{GracePeriod: 10 * time.Second, PreStop: &shutdowntest.HTTPGet{URL: url}}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	r := k.Terminate(ctx, p)
	require.False(t, r.PreStopAbandoned, "an answered hook reported abandoned")
	assert.Equal(t, http.StatusOK, r.PreStopStatus)
	assert.NoError(t, r.PreStopErr)
	assert.GreaterOrEqual(t, r.PreStopDuration, 100*time.Millisecond)
	assert.Zero(t, r.SignalAfter, "no signal to a process that has exited")
	assert.Empty(t, got)
	assert.False(t, r.Killed)
	assert.Equal(t, 0, r.ExitCode)
}

// TestTerminateCommandExitsAsItAnswers: a child that answers /prestop and
// exits at once, as a service with a quick drain does. The answer is on
// the wire before the exit: the hook completed. (Terminate stopped waiting
// when it saw the exit first, and reported the hook abandoned: 1 run in 30
// here; TestTerminatePreStopOutlivesTheProcess makes that order certain.)
func TestTerminateCommandExitsAsItAnswers(t *testing.T) {
	t.Parallel()
	p, addr := startChild(t, "SHUTDOWNTEST_PRESTOP_SLEEP=10ms", "SHUTDOWNTEST_PRESTOP_EXIT=1")
	k := &shutdowntest.Kubelet{GracePeriod: 10 * time.Second, PreStop: &shutdowntest.HTTPGet{URL: "http://" + addr + "/prestop"}}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	r := k.Terminate(ctx, p)
	assert.False(t, r.PreStopAbandoned, "an answered hook reported abandoned")
	assert.Equal(t, http.StatusOK, r.PreStopStatus)
	assert.NoError(t, r.PreStopErr)
	// The stop signal may still go to a process that is exiting, as with
	// the kubelet: the exit is seen only once the process is reaped.
	assert.False(t, r.Killed)
	assert.Equal(t, 0, r.ExitCode)
}

// TestTerminatePreStopSleep: the native sleep action waits before the
// signal, its whole seconds count against the grace period, and a sleep
// longer than the grace period is cut to it.
func TestTerminatePreStopSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, tt := range []struct {
			name                string
			sleep, grace        time.Duration
			wantSignal, wantEnd time.Duration // SIGTERM, then SIGKILL
		}{
			{"within the grace period", 5 * time.Second, 30 * time.Second, 5 * time.Second, 30 * time.Second},
			{"longer than the grace period", 10 * time.Second, 3 * time.Second, 3 * time.Second, 5 * time.Second},
			// 3.5 s − 1 s (1.2 s rounded down) leaves 2.5 s after the signal.
			{"rounded down to whole seconds", 1200 * time.Millisecond, 3500 * time.Millisecond, 1200 * time.Millisecond, 3700 * time.Millisecond},
			// 2.5 s − 1 s leaves 1.5 s, floored at 2 s after the signal.
			{"at least 2 s between the signal and SIGKILL", 1100 * time.Millisecond, 2500 * time.Millisecond, 1100 * time.Millisecond, 3100 * time.Millisecond},
		} {
			start := time.Now()
			exited := make(chan struct{})
			var signalled time.Duration
			p := fakeProcess(func(os.Signal) error { signalled = time.Since(start); return nil }, exited) // ignores SIGTERM
			k := &shutdowntest.Kubelet{GracePeriod: tt.grace, PreStopSleep: tt.sleep}
			r := k.Terminate(context.Background(), p)
			assert.Equal(t, tt.wantSignal, signalled, tt.name)
			assert.Equal(t, tt.wantSignal, r.PreStopDuration, tt.name)
			assert.True(t, r.Killed, tt.name)
			assert.Equal(t, tt.wantEnd, r.ExitAfter, tt.name)
		}
	})
}
