package grpcdrain

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestNoticeAfter checks when the drain tells streams to end, from the
// options and the time the drain has.
func TestNoticeAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		opts        []Option
		left        time.Duration // until the deadline; negative: no deadline
		wantAfter   time.Duration
		wantNotices bool
	}{
		{"default: the lead before the deadline", nil, 23 * time.Second, 22 * time.Second, true},
		{"default without a deadline: never", nil, -1, 0, false},
		{"the lead is at most half the time left", nil, 1500 * time.Millisecond, 750 * time.Millisecond, true},
		{"deadline already passed", nil, 0, 0, true},
		{"zero lead: at the deadline", []Option{WithStreamEndLead(0)}, 23 * time.Second, 23 * time.Second, true},
		{"negative lead: as zero", []Option{WithStreamEndLead(-time.Second)}, 23 * time.Second, 23 * time.Second, true},
		{"a lead without a deadline: never", []Option{WithStreamEndLead(5 * time.Second)}, -1, 0, false},
		{"a lead past half the time left: half", []Option{WithStreamEndLead(time.Hour)}, 10 * time.Second, 5 * time.Second, true},
		{"longer lead", []Option{WithStreamEndLead(5 * time.Second)}, 23 * time.Second, 18 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConfig(tt.opts)
			after, ok := c.noticeAfter(now.Add(tt.left), tt.left >= 0, now)
			assert.Equal(t, tt.wantNotices, ok)
			assert.Equal(t, tt.wantAfter, after)
		})
	}
}

// TestEndWindow checks the turns of the streams in a window: evenly
// spaced from its start, the late ones at its end.
func TestEndWindow(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := endWindow{start: start, end: start.Add(time.Second), open: 4}
	var got []time.Duration
	for range 6 {
		got = append(got, w.next(start))
	}
	ms := time.Millisecond
	assert.Equal(t, []time.Duration{0, 250 * ms, 500 * ms, 750 * ms, time.Second, time.Second}, got)

	var none endWindow // no window was opened: at once
	assert.LessOrEqual(t, none.next(start), time.Duration(0))
}

// TestClampAge checks what WithMaxConnectionAge makes of any age: off at
// or below zero, clamped to the floor and to the longest age grpc-go can
// add its jitter to.
func TestClampAge(t *testing.T) {
	for _, tt := range []struct{ in, want time.Duration }{
		{-time.Hour, 0},
		{0, 0},
		{1, minConnectionAge},
		{time.Microsecond, minConnectionAge},
		{time.Millisecond, time.Millisecond},
		{time.Hour, time.Hour},
		{math.MaxInt64, maxJitteredAge},
	} {
		assert.Equal(t, tt.want, newConfig([]Option{WithMaxConnectionAge(tt.in)}).maxConnectionAge, "WithMaxConnectionAge(%d)", int64(tt.in))
	}
	assert.Equal(t, time.Duration(0), newConfig([]Option{WithDrainWindow(-time.Second)}).drainWindow)
}
