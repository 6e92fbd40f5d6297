package readiness_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/internal/testmain"
	"github.com/lameduck/lameduck/readiness"
)

func TestMain(m *testing.M) { testmain.Run(m) }

func TestProbeLifecycle(t *testing.T) {
	var p readiness.Probe
	assert.Equal(t, readiness.Starting, p.State())
	assert.False(t, p.Started())
	require.ErrorIs(t, p.Check(context.Background()), readiness.ErrNotReady)

	p.SetReady()
	assert.Equal(t, readiness.Ready, p.State())
	assert.True(t, p.Started())
	require.NoError(t, p.Check(context.Background()))

	p.SetLameDuck()
	assert.Equal(t, readiness.LameDuck, p.State())
	require.ErrorIs(t, p.Check(context.Background()), readiness.ErrNotReady)
	assert.True(t, p.Started(), "a process that started stays started while draining")
}

// trigger is a stand-in for the shutdown sequence.
type trigger chan struct{}

func (t trigger) Triggered() <-chan struct{} { return t }

func TestLameDuckLatches(t *testing.T) {
	for _, byTrigger := range []bool{false, true} {
		t.Run(map[bool]string{false: "SetLameDuck", true: "trigger"}[byTrigger], func(t *testing.T) {
			tr := make(trigger)
			p := readiness.New(tr)
			p.SetReady()
			require.Equal(t, readiness.Ready, p.State())
			if byTrigger {
				close(tr)
			} else {
				p.SetLameDuck()
			}
			require.Equal(t, readiness.LameDuck, p.State())

			p.SetReady() // a late start-up signal
			p.AddCheck("ok", func(context.Context) error { return nil })
			assert.Equal(t, readiness.LameDuck, p.State(), "nothing makes a lame duck ready again")
			assert.ErrorIs(t, p.Check(context.Background()), readiness.ErrNotReady)
		})
	}
}

// TestNewWithClosedTrigger: a sequence triggered before the probe exists
// (a signal during start-up) makes the probe a lame duck at once; it used
// to stay ready.
func TestNewWithClosedTrigger(t *testing.T) {
	tr := make(trigger)
	close(tr)
	p := readiness.New(tr)
	assert.Equal(t, readiness.LameDuck, p.State())
	p.SetReady()
	assert.Equal(t, readiness.LameDuck, p.State())
	assert.False(t, p.Started(), "start-up never completed before the trigger")
	assert.ErrorIs(t, p.Check(context.Background()), readiness.ErrNotReady)
}

func TestNewNilPanics(t *testing.T) {
	assert.PanicsWithValue(t, "readiness: New(nil): pass the shutdown sequence", func() { readiness.New(nil) })
}

func TestChecks(t *testing.T) {
	var p readiness.Probe
	p.SetReady()
	dbDown := errors.New("connection refused")
	var mu sync.Mutex
	dbErr := dbDown
	p.AddCheck("cache", func(context.Context) error { return nil })
	p.AddCheck("db", func(context.Context) error { mu.Lock(); defer mu.Unlock(); return dbErr })

	err := p.Check(context.Background())
	require.ErrorIs(t, err, readiness.ErrNotReady)
	require.ErrorIs(t, err, dbDown)
	assert.Contains(t, err.Error(), `check "db": connection refused`)
	assert.NotContains(t, err.Error(), "cache")
	assert.Equal(t, readiness.Ready, p.State(), "a failing check does not move the state")

	mu.Lock()
	dbErr = nil
	mu.Unlock()
	require.NoError(t, p.Check(context.Background()))
}

func TestChecksDoNotRunUnlessReady(t *testing.T) {
	var p readiness.Probe
	ran := false
	p.AddCheck("db", func(context.Context) error { ran = true; return nil })
	require.Error(t, p.Check(context.Background()))
	p.SetReady()
	p.SetLameDuck()
	require.Error(t, p.Check(context.Background()))
	assert.False(t, ran)
}

func TestHandlers(t *testing.T) {
	var p readiness.Probe
	srv := httptest.NewServer(&p)
	defer srv.Close()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, strings.TrimSpace(string(body))
	}
	type want struct {
		code int
		body string
	}
	steps := []struct {
		name                              string
		act                               func()
		readyz, servingz, livez, startupz want
	}{
		{"starting", func() {}, want{503, "readiness: not ready: starting"}, want{503, "readiness: not ready: starting"}, want{200, "ok"}, want{503, "starting"}},
		{"ready", p.SetReady, want{200, "ok"}, want{200, "ok"}, want{200, "ok"}, want{200, "ok"}},
		{"lame duck", p.SetLameDuck, want{503, "readiness: not ready: lame duck"}, want{503, "readiness: not ready: lame duck"}, want{200, "ok"}, want{200, "ok"}},
	}
	for _, path := range []string{"/", "/readyz/", "/healthz", "/READYZ"} {
		code, _ := get(path)
		assert.Equal(t, http.StatusNotFound, code, path)
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.act()
			for path, w := range map[string]want{
				"/readyz": st.readyz, "/servingz": st.servingz, "/livez": st.livez, "/startupz": st.startupz,
			} {
				code, body := get(path)
				assert.Equal(t, w.code, code, path)
				assert.Equal(t, w.body, body, path)
			}
		})
	}
}

func TestStartupzWhenLameDuckBeforeStart(t *testing.T) {
	var p readiness.Probe
	p.SetLameDuck()
	p.SetReady()
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/startupz", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
}

// TestMounted: the Probe mounted on a mux of the program's at one path,
// or at "/", answers as on its own.
func TestMounted(t *testing.T) {
	var p readiness.Probe
	p.SetReady()
	mux := http.NewServeMux()
	mux.Handle("GET /readyz", &p)
	mux.HandleFunc("/other", func(w http.ResponseWriter, r *http.Request) {})
	for path, want := range map[string]int{"/readyz": 200, "/livez": 404, "/other": 200} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, want, rec.Code, path)
	}
}

func TestConcurrentUse(t *testing.T) {
	ch := make(trigger)
	p := readiness.New(ch)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 1000 {
				if i == 0 {
					p.SetReady()
				}
				_ = p.Check(context.Background())
			}
		})
	}
	close(ch)
	wg.Wait()
	assert.Equal(t, readiness.LameDuck, p.State())
}
