package httpdrain_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/internal/loadtest"
)

// startProxy starts a kube-proxy-like balancer in front of backends, all
// ready, that learns of a readiness change lag after it is reported.
func startProxy(t testing.TB, lag time.Duration, backends ...string) *loadtest.Balancer {
	t.Helper()
	p, err := loadtest.NewBalancer(lag, backends...)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

// openLoop sends total POST requests to url over the connections of tr,
// one every interval whatever the responses, with a client that never
// retries. Every transport error, non-200 answer or body that is not the
// one sent counts as a failure. It calls at(i) before sending request i.
func openLoop(t testing.TB, tr *http.Transport, url string, total int, interval time.Duration, at func(i int)) *loadtest.Result {
	t.Helper()
	tr.DisableCompression = true
	defer tr.CloseIdleConnections()
	h := &loadtest.HTTP{Client: &http.Client{Transport: tr}, URL: url, Body: "request", Check: loadtest.Echo}
	cfg := loadtest.Config{Rate: float64(time.Second) / float64(interval), Max: total, Timeout: waitLimit, Before: at}
	res, err := loadtest.Run(context.Background(), cfg, h.Send)
	require.NoError(t, err)
	return res
}

// post sends one POST of body to url with client and counts it in res;
// the answer must be body.
func post(client *http.Client, url, body string, res *loadtest.Tally) {
	h := &loadtest.HTTP{Client: client, URL: url, Body: body, Check: loadtest.Echo}
	res.Do(context.Background(), h.Send)
}

// work is the backends' handler: a little work, then the body back.
func work(w http.ResponseWriter, r *http.Request) {
	select {
	case <-time.After(5 * time.Millisecond):
	case <-r.Context().Done():
		return
	}
	echo(w, r)
}

// TestRollingRestartUnderLoad terminates one of two backends behind a load
// balancer that learns of it late, under open-loop keep-alive POST load:
// the lame-duck sequence (trigger, propagation delay, Drain) fails no
// request, plain Shutdown at the signal fails some.
func TestRollingRestartUnderLoad(t *testing.T) {
	t.Parallel() // real time: waits on the load, not on the CPU
	const (
		conns     = 8
		total     = 900
		interval  = time.Millisecond
		triggerAt = 300                    // requests: 300 ms into the load
		lag       = 200 * time.Millisecond // the load balancer's
		delay     = 400 * time.Millisecond // the propagation delay, > lag
	)
	for _, tt := range []struct {
		name     string
		lameduck bool
	}{{"lameduck", true}, {"plain Shutdown", false}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := startBackend(t, http.HandlerFunc(work))
			b := startBackend(t, http.HandlerFunc(work))
			p := startProxy(t, lag, a.addr, b.addr)
			drained := make(chan error, 1)
			tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns}
			res := openLoop(t, tr, "http://"+p.Addr()+"/work", total, interval, func(i int) {
				if i != triggerAt {
					return
				}
				p.SetReady(a.addr, false) // readiness fails at the trigger
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					if !tt.lameduck {
						drained <- a.srv.Shutdown(ctx)
						return
					}
					close(a.trigger)
					time.Sleep(delay) // the propagation delay the sequence waits
					drained <- a.d.Drain(ctx)
				}()
			})
			require.NoError(t, waitErr(t, drained))
			t.Logf("%v, e.g. %v", res, res.First())
			assert.Equal(t, total, res.Sent)
			if tt.lameduck {
				assert.Zero(t, res.Failed(), "failed requests")
			} else {
				assert.Positive(t, res.Failed(), "plain Shutdown should fail some requests")
			}
		})
	}
}
