package httpdrain

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestOptionsClampValues: values that can come from configuration never
// panic: 0 or less turns a feature off.
func TestOptionsClampValues(t *testing.T) {
	c := newConfig([]Option{
		WithMaxConnectionAge(-time.Second),
		WithMaxConnectionRequests(-1),
		WithLameDuckWindow(-time.Second),
		WithDrainWindow(-time.Second),
		WithRejectWhileDraining(-time.Second),
	})
	assert.Zero(t, c.maxAge)
	assert.Zero(t, c.maxRequests)
	assert.Zero(t, c.lameWindow)
	assert.Zero(t, c.drainWindow)
	assert.False(t, c.perConn, "no per-connection work when every option is off")
	assert.True(t, c.reject)
	assert.Empty(t, c.retryHeader, "no Retry-After header")
}

func TestRetryAfterHeader(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, ""},
		{-time.Second, ""},
		{time.Nanosecond, "1"},
		{time.Second, "1"},
		{1500 * time.Millisecond, "2"},
		{time.Minute, "60"},
		{math.MaxInt64, "9223372037"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			assert.Equal(t, tt.want, newConfig([]Option{WithRejectWhileDraining(tt.d)}).retryHeader)
		})
	}
}
