package httpdrain

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestConnInfoJitterAndTurn(t *testing.T) {
	const (
		age    = time.Minute
		window = 10 * time.Second
		draws  = 1000
	)
	c := newConfig([]Option{WithMaxConnectionAge(age), WithLameDuckWindow(window)})
	const now = int64(time.Hour)
	lo, hi := time.Duration(1<<62), time.Duration(0)
	var early, late int
	for range draws {
		ci := c.newConnInfo(now)
		got := time.Duration(ci.expires - now)
		assert.GreaterOrEqual(t, got, age*9/10)
		assert.LessOrEqual(t, got, age*11/10)
		lo, hi = min(lo, got), max(hi, got)
		assert.GreaterOrEqual(t, ci.turn, time.Duration(0))
		assert.Less(t, ci.turn, window)
		if ci.turn < window/4 {
			early++
		}
		if ci.turn >= window*3/4 {
			late++
		}
	}
	assert.Less(t, lo, age*97/100, "the ages must spread below the mean")
	assert.Greater(t, hi, age*103/100, "the ages must spread above the mean")
	assert.Positive(t, early, "turns must spread over the whole window")
	assert.Positive(t, late, "turns must spread over the whole window")
}

func TestConnInfoSpent(t *testing.T) {
	c := newConfig([]Option{WithMaxConnectionRequests(2)})
	ci := c.newConnInfo(0)
	assert.Zero(t, ci.expires, "no age limit unless asked")
	assert.False(t, ci.spent(c, int64(time.Hour)))
	assert.True(t, ci.spent(c, int64(time.Hour)))
	assert.True(t, ci.spent(c, int64(time.Hour)), "a connection past its limit stays spent")

	c = newConfig([]Option{WithMaxConnectionAge(time.Hour)})
	ci = c.newConnInfo(int64(time.Minute))
	assert.False(t, ci.spent(c, int64(time.Minute+time.Hour/2)), "a young connection is not spent")
	assert.True(t, ci.spent(c, int64(2*time.Hour)), "a connection past its age is")
	assert.Zero(t, ci.turn, "no window unless asked")
}

// TestConnInfoHugeAgeSaturates: an age near the largest Duration, plus its
// jitter and the clock's time, must not wrap around to the past.
func TestConnInfoHugeAgeSaturates(t *testing.T) {
	for _, age := range []time.Duration{math.MaxInt64, math.MaxInt64 / 2, 265 * 365 * 24 * time.Hour} {
		c := newConfig([]Option{WithMaxConnectionAge(age)})
		for _, now := range []int64{0, int64(time.Second), int64(1000 * time.Hour)} {
			for range 100 {
				ci := c.newConnInfo(now)
				assert.Greater(t, ci.expires, now, "age %v at %v: expires %d", age, time.Duration(now), ci.expires)
				assert.False(t, ci.spent(c, now+int64(time.Hour)), "age %v: a fresh connection is spent", age)
			}
		}
	}
}
