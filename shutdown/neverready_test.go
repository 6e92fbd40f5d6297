package shutdown_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/readiness"
	"github.com/lameduck/lameduck/shutdown"
)

// probeGet answers a GET on h and returns the status.
func probeGet(h http.Handler) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return rec.Code
}

// TestNeverReadySkipsDelay: a process whose readiness endpoints were
// probed but never answered "ready" was never put in rotation, so any
// trigger skips the propagation delay; once /readyz or /servingz answered
// 200, the delay is spent. A process never probed at all spends it too, as
// a balancer that does not probe may route to it, unless it failed. (A
// SIGTERM during start-up used to wait the whole delay.)
func TestNeverReadySkipsDelay(t *testing.T) {
	const d = 5 * time.Second
	triggers := []struct {
		name    string
		failure bool
		trigger func(*shutdown.Sequence, chan<- os.Signal)
	}{
		{"SIGTERM", false, func(_ *shutdown.Sequence, c chan<- os.Signal) { c <- syscall.SIGTERM }},
		{"prestop", false, func(s *shutdown.Sequence, _ chan<- os.Signal) { go probeGet(s.PrestopHandler()) }},
		{"Trigger", false, func(s *shutdown.Sequence, _ chan<- os.Signal) { s.Trigger("deploy") }},
		{"Fail after Wait", true, func(s *shutdown.Sequence, _ chan<- os.Signal) { s.Fail(errors.New("lost the lease")) }},
	}
	probes := []struct {
		name  string
		paths []string // probed before the trigger, with the process ready
		ready bool
	}{
		{"never probed", nil, false},
		{"probed while starting", []string{"/readyz", "/servingz"}, false},
		{"readyz answered 200", []string{"/readyz"}, true},
		{"servingz answered 200", []string{"/servingz"}, true},
	}
	for _, tr := range triggers {
		for _, pr := range probes {
			want := time.Duration(0)
			if pr.ready || (pr.paths == nil && !tr.failure) {
				want = d
			}
			t.Run(tr.name+"/"+pr.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					seq, sigs := newSequence(t, shutdown.WithPropagationDelay(d))
					probe := readiness.New(seq)
					mux := http.NewServeMux()
					mux.Handle("/", probe)
					if pr.ready {
						probe.SetReady()
					}
					for _, path := range pr.paths {
						rec := httptest.NewRecorder()
						mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
						require.Equal(t, map[bool]int{true: 200, false: 503}[pr.ready], rec.Code)
					}
					probe.SetReady() // too late to have been seen, unless ready already
					errc := waitAsync(seq)
					synctest.Wait()
					start := time.Now()
					tr.trigger(seq, sigs)
					_ = recvErr(t, errc)
					assert.Equal(t, want, time.Since(start))
					assert.Equal(t, want, seq.Timeline().Delay)
				})
			})
		}
	}
}

// TestNotReadyAfterSkippedDelay: once a trigger skipped the delay because
// no answer said ready, no answer says so afterwards, even one whose
// checks passed just before the trigger.
func TestNotReadyAfterSkippedDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq, sigs := newSequence(t, shutdown.WithPropagationDelay(time.Second))
		report := seq.TrackReadiness()
		require.False(t, report(false), "starting")
		sigs <- syscall.SIGTERM
		require.NoError(t, seq.Wait())
		assert.Zero(t, seq.Timeline().Delay)
		assert.False(t, report(true), "a late ready answer")
	})
}

// TestPortInUseSkipsDelay: with the README's wiring and the port in use,
// Serve's ListenAndServe fails at once; no readiness answer said "ready",
// so the delay is skipped even though Wait was already called and no probe
// came yet. (The whole delay was spent, 6 runs of 6.)
func TestPortInUseSkipsDelay(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	synctest.Test(t, func(t *testing.T) {
		seq, _ := newSequence(t)
		probe := readiness.New(seq)
		errc := waitAsync(seq)
		synctest.Wait() // Wait was called: start-up is over
		api := &http.Server{Addr: taken.Addr().String()}
		start := time.Now()
		seq.Serve("http", api.ListenAndServe, api.Shutdown)
		probe.SetReady()
		err := recvErr(t, errc)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "address already in use")
		assert.Zero(t, seq.Timeline().Delay)
		assert.Zero(t, time.Since(start))
	})
}

// TestUntrackedReadinessKeepsTheDelay: a probe whose handlers are never
// made (its Check served by the program's own handler) tells the sequence
// nothing, and a SIGTERM spends the delay as before.
func TestUntrackedReadinessKeepsTheDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq, sigs := newSequence(t, shutdown.WithPropagationDelay(time.Second))
		probe := readiness.New(seq)
		probe.SetReady()
		errc := waitAsync(seq)
		sigs <- syscall.SIGTERM
		require.NoError(t, recvErr(t, errc))
		assert.Equal(t, time.Second, seq.Timeline().Delay)
	})
}
