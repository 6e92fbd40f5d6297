package shutdown_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
)

func TestPrestopRejectsBadRequests(t *testing.T) {
	tests := []struct {
		name, method, auth string
		code               int
		body               string
	}{
		{"POST", http.MethodPost, "", http.StatusMethodNotAllowed, "/prestop takes GET"},
		{"PUT", http.MethodPut, "", http.StatusMethodNotAllowed, "/prestop takes GET"},
		{"no token", http.MethodGet, "", http.StatusUnauthorized, `needs the header "Authorization: Bearer <token>"`},
		{"not bearer", http.MethodGet, "Basic s3cret", http.StatusUnauthorized, "needs the header"},
		{"wrong token", http.MethodGet, "Bearer guess", http.StatusForbidden, "token does not match the one set by WithPrestopToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq, _ := newSequence(t, shutdown.WithPrestopToken("s3cret"))
			req := httptest.NewRequest(tt.method, "/prestop", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			seq.PrestopHandler().ServeHTTP(rec, req)
			assert.Equal(t, tt.code, rec.Code)
			assert.Contains(t, rec.Body.String(), tt.body)
			if tt.code == http.StatusMethodNotAllowed {
				assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
			}
			requireOpen(t, seq.Triggered(), "Triggered after a rejected /prestop")
		})
	}
}

func TestPrestopWithToken(t *testing.T) {
	seq, _ := newSequence(t, shutdown.WithPrestopToken("s3cret"), shutdown.WithPropagationDelay(0))
	req := httptest.NewRequest(http.MethodHead, "/prestop", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	rec := httptest.NewRecorder()
	seq.PrestopHandler().ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)
	requireClosed(t, seq.Triggered(), "Triggered")
}

// TestPrestopConcurrentCalls: 100 hooks at once start one sequence, and
// every one returns once the delay is over, not before and not much after.
func TestPrestopConcurrentCalls(t *testing.T) {
	t.Parallel() // real time: overlaps with the other real-time tests
	seq, _ := newSequence(t, shutdown.WithPropagationDelay(delay))
	runs := 0
	seq.AfterDrain("once", func(context.Context) error { runs++; return nil })
	srv := httptest.NewServer(seq.PrestopHandler())
	defer srv.Close()
	errc := waitAsync(seq)

	start := time.Now()
	var wg sync.WaitGroup
	codes := make([]int, 100)
	took := make([]time.Duration, 100)
	for i := range codes {
		wg.Go(func() {
			resp, err := srv.Client().Get(srv.URL + "/prestop")
			if !assert.NoError(t, err) {
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, "draining\n", string(body))
			codes[i], took[i] = resp.StatusCode, time.Since(start)
		})
	}
	wg.Wait()
	require.NoError(t, recvErr(t, errc))
	tl := seq.Timeline()
	for i := range codes {
		assert.Equal(t, http.StatusOK, codes[i])
		assert.GreaterOrEqual(t, took[i], delay, "a hook returned before the delay was over")
	}
	assert.Equal(t, 1, runs)
	assert.Equal(t, "prestop", tl.Source)
}

func TestPrestopAfterDelayReturnsAtOnce(t *testing.T) {
	t.Parallel() // real time: overlaps with the other real-time tests
	seq, _ := newSequence(t, shutdown.WithPropagationDelay(delay))
	seq.Trigger("earlier")
	time.Sleep(delay) // the only way to be past a real delay
	start := time.Now()
	rec := httptest.NewRecorder()
	seq.PrestopHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/prestop", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Less(t, time.Since(start), delay/2)
	assert.Equal(t, "earlier", seq.Timeline().Source)
}

func TestPrestopReturnsWhenClientGoesAway(t *testing.T) {
	seq, _ := newSequence(t, shutdown.WithGracePeriod(time.Hour), shutdown.WithPropagationDelay(30*time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/prestop", strings.NewReader(""))
	done := make(chan struct{})
	go func() {
		defer close(done)
		seq.PrestopHandler().ServeHTTP(httptest.NewRecorder(), req)
	}()
	requireClosed(t, seq.Triggered(), "Triggered")
	cancel()
	requireClosed(t, done, "handler return")
}

// TestPrestopAnswerIsWholeWhenTheProcessEnds: the hook's answer arrives
// whole even when Wait returns right after the delay and the process goes
// away at once (here: the server is closed the moment Wait returns). The
// chunked answer used to lose its last chunk (2 runs of 40).
func TestPrestopAnswerIsWholeWhenTheProcessEnds(t *testing.T) {
	t.Parallel() // real time: overlaps with the other real-time tests
	for range 40 {
		seq, _ := newSequence(t, shutdown.WithPropagationDelay(20*time.Millisecond))
		srv := httptest.NewServer(seq.PrestopHandler())
		errc := waitAsync(seq)
		got := make(chan error, 1)
		go func() {
			resp, err := srv.Client().Get(srv.URL + "/prestop")
			if err == nil {
				var body []byte
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && string(body) != "draining\n" {
					err = fmt.Errorf("body %q", body)
				}
			}
			got <- err
		}()
		require.NoError(t, recvErr(t, errc))
		srv.CloseClientConnections()
		srv.Close()
		require.NoError(t, <-got)
	}
}

func TestPrestopTokenSchemeIgnoresCase(t *testing.T) {
	for _, auth := range []string{"Bearer s3cret", "bearer s3cret", "BEARER s3cret"} {
		seq, _ := newSequence(t, shutdown.WithPrestopToken("s3cret"), shutdown.WithPropagationDelay(0))
		req := httptest.NewRequest(http.MethodGet, "/prestop", nil)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		seq.PrestopHandler().ServeHTTP(rec, req)
		assert.Equal(t, http.StatusOK, rec.Code, auth)
		require.NoError(t, seq.Wait())
	}
}

func TestPrestopRefusalsAreLogged(t *testing.T) {
	var logs countingWriter
	seq, _ := newSequence(t, shutdown.WithLogger(logs.logger()), shutdown.FromEnv(func(k string) (string, bool) {
		return "s3cret", k == "SHUTDOWN_PRESTOP_TOKEN"
	}))
	for _, auth := range []string{"", "Bearer guess"} {
		req := httptest.NewRequest(http.MethodGet, "/prestop", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		seq.PrestopHandler().ServeHTTP(rec, req)
		if auth != "" {
			assert.Contains(t, rec.Body.String(), "does not match the one set by SHUTDOWN_PRESTOP_TOKEN")
		}
	}
	assert.Equal(t, 2, logs.count(`"level":"WARN","msg":"shutdown: /prestop refused"`))
	assert.Equal(t, 1, logs.count(`"status":401`))
	assert.Equal(t, 1, logs.count(`"status":403`))
}
