package httpdrain_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/internal/loadtest"
)

// stopper stops backend a at the end of the propagation delay: plain
// Shutdown, or Drain after the trigger.
type stopper struct {
	name     string
	lameduck bool
}

func (s stopper) trigger(a *backend) {
	if s.lameduck {
		close(a.trigger)
	}
}

func (s stopper) stop(a *backend) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.lameduck {
		return a.d.Drain(ctx)
	}
	return a.srv.Shutdown(ctx)
}

// BenchmarkIdleRace measures the HTTP/1.1 idle keep-alive race: a client's
// connection has been idle through the whole lame-duck phase, and the
// client sends a POST, which it cannot replay, offset after the server
// starts to stop. The load balancer already routes new connections to
// another backend. It reports the share of such requests that fail.
//
//	go test -run '^$' -bench BenchmarkIdleRace -benchtime 1x ./httpdrain/
func BenchmarkIdleRace(b *testing.B) {
	const trials = 200
	spare := startBackend(b, http.HandlerFunc(echo))
	for _, s := range []stopper{{name: "shutdown"}, {name: "drainer", lameduck: true}} {
		for _, offset := range []time.Duration{0, 250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 3 * time.Millisecond, 5 * time.Millisecond, 7 * time.Millisecond, 10 * time.Millisecond} {
			b.Run(fmt.Sprintf("%s/offset=%v", s.name, offset), func(b *testing.B) {
				for b.Loop() {
					failed := 0
					for range trials {
						if !idleRaceTrial(b, s, spare, offset) {
							failed++
						}
					}
					b.ReportMetric(100*float64(failed)/trials, "%failed")
				}
			})
		}
	}
}

// idleRaceTrial runs one trial of BenchmarkIdleRace and reports whether the
// request succeeded.
func idleRaceTrial(b *testing.B, s stopper, spare *backend, offset time.Duration) bool {
	a := startBackend(b, http.HandlerFunc(echo))
	p := startProxy(b, 0, a.addr, spare.addr) // the first connection goes to a
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: waitLimit}
	res := new(loadtest.Tally)
	post(client, "http://"+p.Addr()+"/", "warm", res)
	require.Equal(b, 1, res.Result().OK, "warm-up: %v", res.Result().First())
	p.SetReady(a.addr, false)
	s.trigger(a)
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop(a) }()
	if offset > 0 {
		time.Sleep(offset)
	}
	post(client, "http://"+p.Addr()+"/", "race", res)
	require.NoError(b, waitErr(b, stopped))
	p.Close()
	if res.Result().Failed() != 0 && testing.Verbose() {
		b.Logf("%s offset %v: %v", s.name, offset, res.Result().First())
	}
	return res.Result().Failed() == 0
}

// BenchmarkIdleRollout measures failed requests per rollout with clients
// that each keep one connection and send POSTs they cannot replay at random
// (exponential) intervals, some often, some rarely, across the trigger, the
// propagation delay and the drain of one of two backends behind a load
// balancer that learns of it late. It compares plain Shutdown and the
// drain. (Closing connections idle for 20ms or 100ms during the delay as
// well failed more, not fewer: each connection is closed once either way,
// and the early close takes connections a request would have moved away
// with "Connection: close" without a race.)
//
//	go test -run '^$' -bench BenchmarkIdleRollout -benchtime 10x ./httpdrain/
func BenchmarkIdleRollout(b *testing.B) {
	for _, s := range []stopper{{name: "shutdown"}, {name: "drainer", lameduck: true}} {
		b.Run(s.name, func(b *testing.B) {
			var failed, sent int64
			for b.Loop() {
				f, n := idleRollout(b, s)
				failed += f
				sent += n
			}
			b.ReportMetric(float64(failed)/float64(b.N), "failed/rollout")
			b.ReportMetric(float64(sent)/float64(b.N), "requests/rollout")
		})
	}
}

// idleRollout runs one rollout of BenchmarkIdleRollout and returns the
// failed and sent requests.
func idleRollout(b *testing.B, s stopper) (failed, sent int64) {
	const (
		clients = 40
		lag     = 100 * time.Millisecond
		delay   = 300 * time.Millisecond
		warm    = 300 * time.Millisecond
		after   = 300 * time.Millisecond
	)
	a := startBackend(b, http.HandlerFunc(echo))
	spare := startBackend(b, http.HandlerFunc(echo))
	p := startProxy(b, lag, a.addr, spare.addr)
	res := new(loadtest.Tally)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := range clients {
		// Mean intervals from 5 ms to 1 s: busy and sleepy clients.
		mean := 5 * time.Millisecond << (i % 8)
		wg.Go(func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: waitLimit}
			for n := 0; !stop.Load() && n < 10000; n++ {
				time.Sleep(time.Duration(rand.ExpFloat64() * float64(mean)))
				post(client, "http://"+p.Addr()+"/", "x", res)
			}
		})
	}
	time.Sleep(warm)
	p.SetReady(a.addr, false)
	s.trigger(a)
	time.Sleep(delay)
	err := s.stop(a)
	time.Sleep(after)
	stop.Store(true)
	wg.Wait()
	require.NoError(b, err)
	p.Close()
	r := res.Result()
	return int64(r.Failed()), int64(r.Sent)
}
