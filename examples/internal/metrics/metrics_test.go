package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/examples/internal/metrics"
	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/httpdrain"
	"github.com/lameduck/lameduck/shutdown"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestScrapeDuringShutdown scrapes /metrics on a real listener during the
// propagation delay, during the drain and after: each scrape answers and
// shows the phase and the request in flight.
func TestScrapeDuringShutdown(t *testing.T) {
	m := metrics.New()
	seq, err := shutdown.New(shutdown.WithSignals(), shutdown.WithObserver(m.Observe),
		shutdown.WithPropagationDelay(300*time.Millisecond), shutdown.WithGracePeriod(time.Minute),
		shutdown.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	m.Follow(seq)
	var inFlight atomic.Int64
	m.InFlight("http", inFlight.Load)
	admin := httptest.NewServer(m.Handler())
	defer admin.Close()
	scrape := func() string {
		t.Helper()
		resp, err := admin.Client().Get(admin.URL)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(body)
	}

	inFlight.Store(1) // a request in flight until the drain lets it finish
	draining, release := make(chan struct{}), make(chan struct{})
	serving := make(chan struct{})
	seq.Serve("http", func() error { <-serving; return http.ErrServerClosed }, func(context.Context) error {
		close(serving)
		close(draining)
		<-release
		inFlight.Store(0)
		return nil
	})
	assert.Contains(t, scrape(), `lameduck_shutdown_phase{phase="running"} 1`)

	errc := make(chan error, 1)
	go func() { errc <- seq.Wait() }()
	seq.Trigger("test")
	during := scrape() // the phase is read from the channels at the scrape
	assert.Contains(t, during, `lameduck_shutdown_phase{phase="lame_duck"} 1`, "a scrape during the delay")
	assert.Contains(t, during, `lameduck_in_flight{server="http"} 1`)

	<-draining
	during = scrape()
	assert.Contains(t, during, `lameduck_shutdown_phase{phase="draining"} 1`, "a scrape during the drain")
	assert.Contains(t, during, `lameduck_in_flight{server="http"} 1`)
	close(release)
	require.NoError(t, <-errc)

	after := scrape()
	assert.Contains(t, after, `lameduck_shutdown_phase{phase="draining"} 1`)
	assert.Contains(t, after, `lameduck_shutdown_phase{phase="running"} 0`)
	assert.Contains(t, after, `lameduck_shutdown_steps_total{outcome="ok",phase="drain",step="http"} 1`)
	assert.Contains(t, after, `lameduck_in_flight{server="http"} 0`)
	assert.True(t, strings.Contains(after, `lameduck_shutdown_step_duration_seconds{phase="drain",step="http"}`))
}

func TestStepOutcomes(t *testing.T) {
	m := metrics.New()
	for _, st := range []shutdown.Step{
		{Name: "http", Phase: shutdown.PhaseDrain, Err: fmt.Errorf("shutdown: step \"http\": %w", httpdrain.ErrForced)},
		{Name: "grpc", Phase: shutdown.PhaseDrain, Err: fmt.Errorf("shutdown: step \"grpc\": %w", grpcdrain.ErrForced)},
		{Name: "db", Phase: shutdown.PhaseAfterDrain, Abandoned: true, Err: shutdown.ErrAbandoned},
		{Name: "journal", Phase: shutdown.PhaseAfterDrain, Err: errors.New("disk full")},
	} {
		m.Observe(st)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`lameduck_shutdown_steps_total{outcome="forced",phase="drain",step="http"} 1`,
		`lameduck_shutdown_steps_total{outcome="forced",phase="drain",step="grpc"} 1`,
		`lameduck_shutdown_steps_total{outcome="abandoned",phase="after-drain",step="db"} 1`,
		`lameduck_shutdown_steps_total{outcome="error",phase="after-drain",step="journal"} 1`,
	} {
		assert.Contains(t, rec.Body.String(), want)
	}
}
