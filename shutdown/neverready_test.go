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

// TestNeverReadySkipsDelay: a process whose readiness endpoints never
// answered "ready" was never put in rotation, so any trigger skips the
// propagation delay; once /readyz or /servingz answered 200, the delay is
// spent. (A SIGTERM during start-up used to wait the whole delay.)
func TestNeverReadySkipsDelay(t *testing.T) {
	const d = 5 * time.Second
	triggers := []struct {
		name    string
		trigger func(*shutdown.Sequence, chan<- os.Signal)
	}{
		{"SIGTERM", func(_ *shutdown.Sequence, c chan<- os.Signal) { c <- syscall.SIGTERM }},
		{"prestop", func(s *shutdown.Sequence, _ chan<- os.Signal) { go probeGet(s.PrestopHandler()) }},
		{"Trigger", func(s *shutdown.Sequence, _ chan<- os.Signal) { s.Trigger("deploy") }},
		{"Fail after Wait", func(s *shutdown.Sequence, _ chan<- os.Signal) { s.Fail(errors.New("lost the lease")) }},
	}
	for _, tr := range triggers {
		for _, answered := range []string{"", readiness.ReadyzPath, readiness.ServingzPath} {
			name := tr.name + "/never ready"
			want := time.Duration(0)
			if answered != "" {
				name, want = tr.name+"/"+answered+" answered 200", d
			}
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					seq, sigs := newSequence(t, shutdown.WithPropagationDelay(d))
					probe := readiness.New(seq)
					mux := http.NewServeMux()
					probe.Register(mux)
					probe.SetReady()
					if answered != "" {
						rec := httptest.NewRecorder()
						mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, answered, nil))
						require.Equal(t, http.StatusOK, rec.Code)
					}
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

// TestPortInUseSkipsDelay: with the README's wiring and the port in use,
// Serve's ListenAndServe fails at once; no readiness answer said "ready",
// so the delay is skipped even though Wait was already called. (The whole
// delay was spent, 6 runs of 6.)
func TestPortInUseSkipsDelay(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	synctest.Test(t, func(t *testing.T) {
		seq, _ := newSequence(t)
		probe := readiness.New(seq)
		probe.Register(http.NewServeMux())
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
