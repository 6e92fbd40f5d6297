package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRollout is the end-to-end claim of the project: a rolling restart
// of every copy behind a load balancer, under open-loop load that never
// retries, costs a lameduck service no request, no acknowledged write and
// no SIGKILL, for HTTP/1.1, h2c and gRPC, plaintext and over TLS, and
// truncates no finite gRPC stream; and the same rollout of a
// service without signal handling does fail requests, so the test can
// tell the two apart. It runs behind HAProxy, which CI installs, or,
// where HAProxy is not installed, behind the built-in kube-proxy-like
// balancer, which needs nothing installed. LAMEDUCK_ROLLOUT_BOTH=1 runs
// it behind both.
func TestRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example services and rolls them: not in -short")
	}
	lbs := []string{"haproxy"}
	if _, err := haproxyPath(); err != nil && os.Getenv("CI") != "true" {
		lbs = []string{"builtin"}
	}
	if os.Getenv("LAMEDUCK_ROLLOUT_BOTH") == "1" {
		lbs = []string{"haproxy", "builtin"}
	}
	for _, lb := range lbs {
		t.Run(lb, func(t *testing.T) {
			if lb == "haproxy" {
				requireHAProxy(t)
			}
			testRollout(t, lb)
		})
	}
}

func testRollout(t *testing.T, lb string) {
	cfg := config{
		Rate:       100,
		Warmup:     500 * time.Millisecond,
		Copies:     2,
		Conns:      4,
		Work:       20 * time.Millisecond,
		Strategies: []string{"none", "lameduck"},
		Protocols:  allProtocols,
		LB:         lb,
		Lag:        300 * time.Millisecond,
		Grace:      8 * time.Second, // room for a 2 s Page stream opened during the delay
		Delay:      time.Second,
		// Scenarios mostly wait (delays, probes, 100 req/s of load), so
		// several at once take little more than one.
		Parallel: 4,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	results, err := runAll(ctx, cfg, testLog{t})
	require.NoError(t, err)
	require.Len(t, results, len(cfg.Strategies)*len(cfg.Protocols))

	var table strings.Builder
	require.NoError(t, printTable(&table, results))
	t.Logf("\n%s", table.String())
	for _, r := range results {
		t.Run(r.Strategy+"/"+string(r.Protocol), func(t *testing.T) {
			require.Len(t, r.Terminations, cfg.Copies, "not every copy was restarted")
			assert.Positive(t, r.Load.OK, "no request succeeded")
			switch r.Strategy {
			case "lameduck":
				assert.Zero(t, r.Load.Failed(), "failed requests: %v %v", r.Load.Failures, r.Load.First())
				assert.Zero(t, r.Load.Truncated, "truncated streams: %v", r.Load.Example(truncated))
				assert.Zero(t, r.Killed(), "copies SIGKILLed")
				if !r.Protocol.writes() {
					assert.Equal(t, stored{}, r.Stored, "Page writes nothing")
					return
				}
				assert.Zero(t, r.Lost(), "acknowledged writes lost: %d acknowledged, stored %+v", r.Load.OK, r.Stored)
				// No request processed twice (an unsafe resend) or
				// processed without its client hearing of it.
				// Every request's follow-up job, accepted on the
				// request's way out, was done by the worker.
				assert.Equal(t, stored{Rows: r.Load.OK, Lines: r.Load.OK, Jobs: r.Load.OK}, r.Stored)
			case "none":
				assert.Positive(t, r.Load.Failed(), "a service without signal handling failed no request: the rollout proves nothing")
			}
		})
	}
}

// testLog sends progress lines to t.Log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
