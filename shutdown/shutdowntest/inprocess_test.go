package shutdowntest_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

var discard = slog.New(slog.DiscardHandler)

// TestInProcessTerminate: the kubelet's preStop hook starts the sequence
// of an in-process service, its SIGTERM reaches that sequence, and the
// process exits 0 once Wait returns.
func TestInProcessTerminate(t *testing.T) {
	t.Parallel()
	started := make(chan *shutdown.Sequence, 1)
	waited := make(chan error, 1)
	p := shutdowntest.InProcess(func(opt shutdown.Option) error {
		seq, err := shutdown.New(opt, shutdown.WithPropagationDelay(200*time.Millisecond), shutdown.WithGracePeriod(5*time.Second), shutdown.WithLogger(discard))
		if err != nil {
			return err
		}
		release := make(chan struct{})
		seq.Serve("http", func() error { <-release; return nil }, func(context.Context) error { close(release); return nil })
		started <- seq
		err = seq.Wait()
		waited <- err
		return err
	})
	seq := <-started
	admin := httptest.NewServer(seq.PrestopHandler())
	defer admin.Close()
	k := &shutdowntest.Kubelet{GracePeriod: 5 * time.Second, PreStop: &shutdowntest.HTTPGet{URL: admin.URL + "/prestop"}}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	r := k.Terminate(ctx, p)
	require.NoError(t, <-waited)
	assert.Equal(t, http.StatusOK, r.PreStopStatus)
	assert.False(t, r.Killed)
	assert.Equal(t, 0, r.ExitCode)
	tl := seq.Timeline()
	assert.Equal(t, "prestop", tl.Source)
	assert.Equal(t, 200*time.Millisecond, tl.Delay)
	assert.ErrorIs(t, p.Signal(syscall.SIGTERM), os.ErrProcessDone, "no signal to an exited process")
}

// TestInProcessSignal: the first signal triggers the sequence made with
// the option, even when sent before it is made; a second forces the exit,
// which is recorded (exit code 1) instead of ending the test binary, and
// run then returns Wait's ErrForcedExit.
func TestInProcessSignal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		made, returned := make(chan struct{}), make(chan error, 1)
		var seq *shutdown.Sequence
		p := shutdowntest.InProcess(func(opt shutdown.Option) error {
			<-made // a slow start-up: the first signal waits for the sequence
			var err error
			seq, err = shutdown.New(opt, shutdown.WithPropagationDelay(time.Minute), shutdown.WithGracePeriod(time.Hour), shutdown.WithLogger(discard))
			if err != nil {
				return err
			}
			err = seq.Wait()
			returned <- err
			return err
		})
		require.NoError(t, p.Signal(syscall.SIGTERM))
		close(made)
		synctest.Wait()
		assert.Equal(t, "SIGTERM", seq.Timeline().Source)
		assert.Equal(t, -1, p.ExitCode(), "running")

		time.Sleep(time.Second) // in the delay
		require.NoError(t, p.Signal(syscall.SIGTERM))
		<-p.Exited()
		assert.Equal(t, 1, p.ExitCode())
		require.ErrorIs(t, <-returned, shutdown.ErrForcedExit)
		assert.Equal(t, 1, p.ExitCode(), "the forced exit's code stays")
	})
}

// TestInProcessBackstop: a sequence whose Wait is never called (start-up
// hung) is forced out at its deadline + half the safety margin, and the
// Kubelet sees the exit, not a SIGKILL.
func TestInProcessBackstop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		p := shutdowntest.InProcess(func(opt shutdown.Option) error {
			seq, err := shutdown.New(opt, shutdown.WithPropagationDelay(0), shutdown.WithGracePeriod(4*time.Second),
				shutdown.WithSafetyMargin(2*time.Second), shutdown.WithLogger(discard))
			if err != nil {
				return err
			}
			<-release // start-up never ends
			return seq.Wait()
		})
		start := time.Now()
		r := (&shutdowntest.Kubelet{GracePeriod: 4 * time.Second}).Terminate(context.Background(), p)
		assert.False(t, r.Killed)
		assert.Equal(t, 1, r.ExitCode)
		assert.Equal(t, 3*time.Second, time.Since(start), "the deadline (2 s) + half the margin")
		close(release)
	})
}

// TestInProcessExitCodes: run's result is the exit code, as a main that
// exits 1 on an error; Kill records -1 and stops waiting for run.
func TestInProcessExitCodes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{{"nil", nil, 0}, {"error", errors.New("listen tcp :8080: bind: address already in use"), 1}} {
		p := shutdowntest.InProcess(func(shutdown.Option) error { return tt.err })
		select {
		case <-p.Exited():
		case <-time.After(waitBound):
			t.Fatal("Exited not closed when run returned")
		}
		assert.Equal(t, tt.want, p.ExitCode(), tt.name)
	}
	release := make(chan struct{})
	defer close(release)
	p := shutdowntest.InProcess(func(shutdown.Option) error { <-release; return nil })
	assert.Equal(t, -1, p.ExitCode(), "running")
	require.NoError(t, p.Kill())
	require.NoError(t, p.Kill(), "Kill may be called twice")
	<-p.Exited()
	assert.Equal(t, -1, p.ExitCode())
	assert.Panics(t, func() { shutdowntest.InProcess(nil) })
}
