package httpdrain_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkIdleCloseDelay measures how long after the start of the stop
// (Drain after the trigger, or Shutdown) a client sees its idle keep-alive
// connection closed: the later the close, the later the window of the idle
// race (see BenchmarkIdleRace). It reports the median and the 90th
// percentile over 200 stops.
//
//	go test -run '^$' -bench BenchmarkIdleCloseDelay -benchtime 1x ./httpdrain/
func BenchmarkIdleCloseDelay(b *testing.B) {
	const trials = 200
	for _, s := range []stopper{{name: "shutdown"}, {name: "drainer", lameduck: true}} {
		b.Run(s.name, func(b *testing.B) {
			for b.Loop() {
				delays := make([]time.Duration, trials)
				for i := range delays {
					delays[i] = idleCloseDelay(b, s)
				}
				slices.Sort(delays)
				b.ReportMetric(float64(delays[trials/2].Microseconds()), "µs-median")
				b.ReportMetric(float64(delays[trials*9/10].Microseconds()), "µs-p90")
			}
		})
	}
}

// idleCloseDelay stops a server holding one idle connection and returns
// when, after the start of the stop, the client saw the connection close.
func idleCloseDelay(b *testing.B, s stopper) time.Duration {
	a := startBackend(b, http.HandlerFunc(echo))
	c := dialRaw(b, a.addr)
	_, _, err := c.roundTrip("/", "warm")
	require.NoError(b, err)
	s.trigger(a) // right before the stop, as in BenchmarkIdleRace
	eof := make(chan time.Time, 1)
	go func() {
		c.r.Read(make([]byte, 1))
		eof <- time.Now()
	}()
	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop(a) }()
	var at time.Time
	select {
	case at = <-eof:
	case <-time.After(waitLimit):
		b.Fatal("the idle connection was not closed")
	}
	require.NoError(b, waitErr(b, stopped))
	return at.Sub(start)
}
