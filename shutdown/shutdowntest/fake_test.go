package shutdowntest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

// fakeProcess returns a [shutdowntest.Process] that stands for a process
// in the tests of the simulator itself: Signal calls signal (nil: the
// signal is dropped), and the process has exited, with exit code 0, when
// exited is closed. Kill makes Exited close without waiting any longer,
// with exit code -1. Its goroutine ends at the first of the two: a test
// closes exited or kills the process (Terminate always does one).
func fakeProcess(signal func(os.Signal) error, exited <-chan struct{}) shutdowntest.Process {
	f := &fake{signal: signal, exited: exited, kill: make(chan struct{}), done: make(chan struct{})}
	go func() {
		select {
		case <-f.exited:
		case <-f.kill:
			f.killed = true
		}
		close(f.done)
	}()
	return f
}

type fake struct {
	signal   func(os.Signal) error
	exited   <-chan struct{}
	kill     chan struct{} // closed by Kill
	killOnce sync.Once
	done     chan struct{}
	killed   bool // written before done is closed
}

func (f *fake) Signal(sig os.Signal) error {
	if f.signal == nil {
		return nil
	}
	return f.signal(sig)
}

func (f *fake) Kill() error {
	f.killOnce.Do(func() { close(f.kill) })
	return nil
}

func (f *fake) Exited() <-chan struct{} { return f.done }

func (f *fake) ExitCode() int {
	select {
	case <-f.done:
		if f.killed {
			return -1
		}
		return 0
	default:
		return -1
	}
}

// hookServer serves the preStop hook in process and hands each request's
// header to the test.
func hookServer(t *testing.T, h http.HandlerFunc) (string, <-chan http.Header) {
	t.Helper()
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		select {
		case got <- r.Header.Clone():
		default:
		}
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/prestop", got
}

// exitOn returns a process that exits when it gets sig, and the signals it got.
func exitOn(sig os.Signal) (shutdowntest.Process, <-chan os.Signal) {
	exited := make(chan struct{})
	got := make(chan os.Signal, 1)
	return fakeProcess(func(s os.Signal) error {
		got <- s
		if s == sig {
			close(exited)
		}
		return nil
	}, exited), got
}

func TestTerminatePreStopHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header http.Header
		want   http.Header
	}{{
		name: "kubelet defaults",
		want: http.Header{"User-Agent": {"kube-lifecycle/1.34"}, "Accept": {"*/*"}},
	}, {
		name:   "manifest headers added",
		header: http.Header{"X-Prestop-Token": {"s3cret"}},
		want:   http.Header{"User-Agent": {"kube-lifecycle/1.34"}, "X-Prestop-Token": {"s3cret"}},
	}, {
		name:   "manifest headers win",
		header: http.Header{"User-Agent": {"probe/1"}, "Accept": {"text/plain"}},
		want:   http.Header{"User-Agent": {"probe/1"}, "Accept": {"text/plain"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, headers := hookServer(t, nil)
			before := tt.header.Clone()
			p, sigs := exitOn(syscall.SIGTERM)
			k := &shutdowntest.Kubelet{GracePeriod: 4 * time.Second, PreStop: &shutdowntest.HTTPGet{URL: url, Header: tt.header}}
			r := k.Terminate(context.Background(), p)

			assert.Equal(t, http.StatusOK, r.PreStopStatus)
			assert.Equal(t, syscall.SIGTERM, <-sigs)
			assert.False(t, r.Killed)
			assert.Equal(t, 0, r.ExitCode)
			got := <-headers
			for name := range tt.want {
				assert.Equal(t, tt.want.Get(name), got.Get(name), name)
			}
			assert.Equal(t, before, tt.header, "the caller's header is not changed")
		})
	}
}

func TestTerminateFake(t *testing.T) {
	t.Parallel()
	t.Run("custom stop signal", func(t *testing.T) {
		t.Parallel()
		p, sigs := exitOn(syscall.SIGQUIT)
		r := (&shutdowntest.Kubelet{StopSignal: syscall.SIGQUIT}).Terminate(context.Background(), p)
		assert.Equal(t, syscall.SIGQUIT, <-sigs)
		assert.False(t, r.Killed)
	})
	t.Run("Kill stops waiting", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			p := fakeProcess(nil, make(chan struct{})) // never exits
			r := (&shutdowntest.Kubelet{GracePeriod: 2 * time.Second}).Terminate(context.Background(), p)
			assert.True(t, r.Killed)
			assert.Equal(t, -1, r.ExitCode)
			assert.Equal(t, 137, r.ContainerExitCode)
			assert.Equal(t, 2*time.Second, r.ExitAfter-r.SignalAfter)
		})
	})
	t.Run("context done kills at once", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p := fakeProcess(func(os.Signal) error { cancel(); return nil }, make(chan struct{}))
		r := (&shutdowntest.Kubelet{GracePeriod: time.Hour}).Terminate(ctx, p)
		assert.True(t, r.Killed)
		assert.Equal(t, -1, r.ExitCode)
		assert.Less(t, r.ExitAfter, waitBound)
	})
	t.Run("context done before the signal", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var signalled atomic.Bool
		p := fakeProcess(func(os.Signal) error { signalled.Store(true); return nil }, make(chan struct{}))
		r := (&shutdowntest.Kubelet{}).Terminate(ctx, p)
		assert.True(t, r.Killed)
		assert.Zero(t, r.SignalAfter)
		assert.False(t, signalled.Load())
	})
	t.Run("negative grace period skips the hook", func(t *testing.T) {
		t.Parallel()
		var hits atomic.Int32
		url, _ := hookServer(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) }) // outside the bubble: never asked
		synctest.Test(t, func(t *testing.T) {
			p := fakeProcess(nil, make(chan struct{}))
			k := &shutdowntest.Kubelet{GracePeriod: -time.Second, PreStop: &shutdowntest.HTTPGet{URL: url}}
			r := k.Terminate(context.Background(), p)
			assert.Zero(t, hits.Load())
			assert.True(t, r.Killed)
			assert.Equal(t, shutdowntest.MinGraceAfterSignal, r.ExitAfter-r.SignalAfter)
		})
	})
}

// TestTerminateExitsDuringPreStop: a process that exits while its hook
// hangs is not signalled, and its hook is waited for to the end of the
// grace period, as the kubelet does.
func TestTerminateExitsDuringPreStop(t *testing.T) {
	t.Parallel()
	exited := make(chan struct{})
	url, _ := hookServer(t, func(_ http.ResponseWriter, r *http.Request) {
		close(exited)
		<-r.Context().Done() // answers only when the request is cancelled
	})
	var signalled atomic.Bool
	p := fakeProcess(func(os.Signal) error { signalled.Store(true); return nil }, exited)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends the abandoned hook request
	grace := 500 * time.Millisecond
	r := (&shutdowntest.Kubelet{GracePeriod: grace, PreStop: &shutdowntest.HTTPGet{URL: url}}).Terminate(ctx, p)

	// Like the kubelet, Terminate waits for the hook up to the grace
	// period, although the process has exited.
	assert.True(t, r.PreStopAbandoned)
	assert.GreaterOrEqual(t, r.PreStopDuration, grace)
	assert.Less(t, r.PreStopDuration, waitBound)
	assert.Zero(t, r.SignalAfter)
	assert.False(t, signalled.Load(), "an exited process is not signalled")
	assert.False(t, r.Killed)
	assert.Equal(t, 0, r.ExitCode)
}

func TestFakeKill(t *testing.T) {
	t.Parallel()
	exited := make(chan struct{})
	p := fakeProcess(nil, exited)
	require.NoError(t, p.Signal(syscall.SIGTERM), "nil signal func")
	assert.Equal(t, -1, p.ExitCode(), "not exited yet")
	require.NoError(t, p.Kill())
	require.NoError(t, p.Kill(), "Kill may be called twice")
	select {
	case <-p.Exited():
	case <-time.After(waitBound):
		t.Fatal("Exited not closed after Kill")
	}
	assert.Equal(t, -1, p.ExitCode())
}
