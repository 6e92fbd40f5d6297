package grpcdrain

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestNoticeSpreadsOverTheWindow checks, on a fake clock, when each stream
// of a class is told to end: the streams open when the notice comes one
// after another, evenly spaced over the window; a stream opened later at
// the window's end; all at once without a window.
func TestNoticeSpreadsOverTheWindow(t *testing.T) {
	const open = 4
	ms := time.Millisecond
	tests := []struct {
		window time.Duration
		want   []time.Duration // when each stream is told, from the notice; the last one opened after it
	}{
		{0, []time.Duration{0, 0, 0, 0, 0}},
		{1000 * ms, []time.Duration{0, 250 * ms, 500 * ms, 750 * ms, 1000 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.window.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := newNotice()
				start := time.Now()
				var mu sync.Mutex
				var told []time.Duration
				register := func() {
					n.streams.Add(1)
					ctx, cancel := context.WithCancelCause(context.Background())
					context.AfterFunc(n.ctx, func() { endStream(cancel, &n.window) })
					context.AfterFunc(ctx, func() {
						mu.Lock()
						told = append(told, time.Since(start))
						mu.Unlock()
					})
				}
				for range open {
					register()
				}
				n.open(start, start.Add(tt.window))
				register() // opened after the notice
				time.Sleep(tt.window + time.Second)
				synctest.Wait()
				mu.Lock()
				defer mu.Unlock()
				assert.ElementsMatch(t, tt.want, told)
				assert.ErrorIs(t, context.Cause(n.ctx), ErrDraining)
			})
		})
	}
}
