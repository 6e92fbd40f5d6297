package httpdrain_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadResult counts the outcome of an open-loop load.
type loadResult struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	sample     []string // a few failures, for the log
}

func (r *loadResult) fail(format string, args ...any) {
	r.failed.Add(1)
	r.mu.Lock()
	if len(r.sample) < 5 {
		r.sample = append(r.sample, fmt.Sprintf(format, args...))
	}
	r.mu.Unlock()
}

// openLoop sends total POST requests to url, one every interval whatever
// the responses, over at most conns keep-alive connections, with a client
// that never retries. Every transport error, non-200 answer or wrong body
// counts as a failure. It calls at(i) before sending request i.
func openLoop(url string, conns, total int, interval time.Duration, at func(i int)) *loadResult {
	tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns}
	return openLoopWith(tr, url, total, interval, at)
}

// openLoopWith is openLoop over the connections of tr.
func openLoopWith(tr *http.Transport, url string, total int, interval time.Duration, at func(i int)) *loadResult {
	tr.DisableCompression = true
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: waitLimit}
	res := new(loadResult)
	var wg sync.WaitGroup
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := range total {
		<-tick.C
		at(i)
		wg.Go(func() { post(client, url, fmt.Sprintf("request %d", i), res) })
	}
	wg.Wait()
	return res
}

func post(client *http.Client, url, body string, res *loadResult) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		res.fail("%v", err)
		return
	}
	req.GetBody = nil // Go's client replays some requests on a new connection; not these
	resp, err := client.Do(req)
	if err != nil {
		res.fail("%v", err)
		return
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		res.fail("%v", err)
	case resp.StatusCode != http.StatusOK || string(got) != body:
		res.fail("status %d body %q", resp.StatusCode, got)
	default:
		res.ok.Add(1)
	}
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
	const (
		conns     = 8
		total     = 1500
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
			a := startBackend(t, http.HandlerFunc(work))
			b := startBackend(t, http.HandlerFunc(work))
			p := startProxy(t, lag, a.addr, b.addr)
			drained := make(chan error, 1)
			res := openLoop("http://"+p.addr()+"/work", conns, total, interval, func(i int) {
				if i != triggerAt {
					return
				}
				p.setUnready(0) // readiness fails at the trigger
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
			t.Logf("ok %d, failed %d, e.g. %q", res.ok.Load(), res.failed.Load(), res.sample)
			assert.EqualValues(t, total, res.ok.Load()+res.failed.Load())
			if tt.lameduck {
				assert.Zero(t, res.failed.Load(), "failed requests")
			} else {
				assert.Positive(t, res.failed.Load(), "plain Shutdown should fail some requests")
			}
		})
	}
}
