package loadtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRunIsOpenLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var starts []time.Duration
		var lanes [2]int
		t0 := time.Now()
		lane := func(n int) func(context.Context) error {
			return func(context.Context) error {
				mu.Lock()
				starts = append(starts, time.Since(t0))
				lanes[n]++
				mu.Unlock()
				time.Sleep(time.Second) // far slower than the rate
				return nil
			}
		}
		var before []int
		res, err := Run(context.Background(), Config{Rate: 100, Max: 50, Before: func(i int) { before = append(before, i) }}, lane(0), lane(1))
		require.NoError(t, err)
		assert.Equal(t, 50, res.Sent)
		assert.Equal(t, 50, res.OK)
		assert.Zero(t, res.Failed())
		assert.Equal(t, [2]int{25, 25}, lanes, "round robin")
		require.Len(t, before, 50)
		assert.Equal(t, 49, before[49])
		for i, s := range starts {
			assert.Equal(t, time.Duration(i)*10*time.Millisecond, s, "request %d started late or early", i)
		}
		assert.Equal(t, time.Second+490*time.Millisecond, time.Since(t0), "Run waits for the requests in flight")
		assert.Equal(t, time.Second, res.Percentile(99))
	})
}

func TestRunSkipsMissedStarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		var starts []time.Duration
		before := func(i int) {
			starts = append(starts, time.Since(t0))
			if i == 1 {
				time.Sleep(35 * time.Millisecond) // until 45 ms
			}
		}
		_, err := Run(context.Background(), Config{Rate: 100, Max: 5, Before: before}, func(context.Context) error { return nil })
		require.NoError(t, err)
		ms := time.Millisecond
		// The start due at 20 ms goes at 45 ms, late; those at 30 and 40
		// ms are skipped; the schedule goes on at 50 ms.
		assert.Equal(t, []time.Duration{0, 10 * ms, 45 * ms, 50 * ms, 60 * ms}, starts)
	})
}

func TestRunCountsFailuresByReason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sent atomic.Int64
		lane := func(ctx context.Context) error {
			n := sent.Add(1)
			switch n % 4 {
			case 1:
				<-ctx.Done() // past the timeout
				return ctx.Err()
			case 2:
				return status.Error(codes.Unavailable, "draining")
			case 3:
				return &Error{Reason: "truncated", Err: fmt.Errorf("stream %d ended early", n)}
			}
			return nil
		}
		res, err := Run(context.Background(), Config{Rate: 1000, Max: 40, Timeout: time.Second}, lane)
		require.NoError(t, err)
		assert.Equal(t, 40, res.Sent)
		assert.Equal(t, 10, res.OK)
		assert.Equal(t, map[string]int{"timeout": 10, "Unavailable": 10, "truncated": 10}, res.Failures)
		assert.Len(t, res.First(), MaxFirst+1, "the first failures, and the first of each reason")
		assert.Equal(t, "timeout", res.First()[MaxFirst].Reason)
		assert.Len(t, res.All, 30, "every failure")
		assert.Equal(t, "stream 3 ended early", res.Example("truncated"))
		assert.Empty(t, res.Example("EOF"))
		assert.Equal(t, "sent 40, ok 10, failed 30 [10x Unavailable 10x timeout 10x truncated]", res.String())
	})
}

func TestRunStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 105*time.Millisecond)
		defer cancel()
		res, err := Run(ctx, Config{Rate: 100, Max: 1000}, func(rctx context.Context) error {
			time.Sleep(time.Second) // outlives ctx
			return rctx.Err()
		})
		require.NoError(t, err)
		assert.Equal(t, 11, res.Sent, "requests at 0, 10, ..., 100 ms")
		assert.Equal(t, 11, res.OK, "ctx's end does not cancel the requests in flight")
	})
}

func TestRunRejectsBadConfig(t *testing.T) {
	send := func(context.Context) error { return nil }
	for _, tt := range []struct {
		cfg   Config
		lanes int
		want  string
	}{
		{Config{Max: 1}, 1, "Rate 0 is not positive"},
		{Config{Rate: 1}, 1, "Max 0 is not positive"},
		{Config{Rate: 1, Max: 1, Timeout: -1}, 1, "Timeout -1ns is negative"},
		{Config{Rate: 1, Max: 1}, 0, "no lane"},
	} {
		lanes := make([]func(context.Context) error, tt.lanes)
		for i := range lanes {
			lanes[i] = send
		}
		res, err := Run(context.Background(), tt.cfg, lanes...)
		assert.ErrorContains(t, err, tt.want)
		assert.Nil(t, res)
	}
}

func TestResultPercentile(t *testing.T) {
	var r Result
	assert.Zero(t, r.Percentile(99))
	for i := range 200 {
		r.Latencies = append(r.Latencies, time.Duration(200-i)*time.Millisecond)
	}
	assert.Equal(t, 198*time.Millisecond, r.Percentile(99))
	assert.Equal(t, 100*time.Millisecond, r.Percentile(50))
	assert.Equal(t, 200*time.Millisecond, r.Percentile(100))
	assert.Equal(t, time.Millisecond, r.Percentile(0))
}

func TestTallyResultIsACopy(t *testing.T) {
	var tally Tally
	require.NoError(t, tally.Do(context.Background(), func(context.Context) error { return nil }))
	r := tally.Result()
	assert.Error(t, tally.Do(context.Background(), func(context.Context) error { return errors.New("x") }))
	assert.Equal(t, 1, r.Sent)
	assert.Empty(t, r.Failures)
	assert.Equal(t, 2, tally.Result().Sent)
	assert.Equal(t, map[string]int{"other": 1}, tally.Result().Failures)
}
