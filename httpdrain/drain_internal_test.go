package httpdrain

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestPollBacksOff: poll looks again after 1ms, then twice as long each
// time up to maxPollInterval, and stops when done reports true or when
// its context ends.
func TestPollBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration
		done := poll(context.Background(), func() bool {
			at = append(at, time.Since(start))
			return len(at) == 10
		})
		assert.True(t, done)
		ms := time.Millisecond
		assert.Equal(t, []time.Duration{0, 1 * ms, 3 * ms, 7 * ms, 15 * ms, 31 * ms, 63 * ms, 113 * ms, 163 * ms, 213 * ms}, at)

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start = time.Now()
		calls := 0
		assert.False(t, poll(ctx, func() bool { calls++; return false }), "the context ended first")
		assert.Equal(t, time.Second, time.Since(start), "poll returns when its context ends")
		assert.Equal(t, 25, calls, "1ms to 32ms, then every 50ms until 1s")
	})
}
