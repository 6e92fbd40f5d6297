package shutdown_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
)

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func TestCloserAndFunc(t *testing.T) {
	errClose := errors.New("close failed")
	require.ErrorIs(t, shutdown.Closer(closerFunc(func() error { return errClose }))(context.Background()), errClose)
	called := false
	require.NoError(t, shutdown.Func(func() { called = true })(context.Background()))
	assert.True(t, called)
}

func TestTimeout(t *testing.T) {
	t.Run("returns the step's result", func(t *testing.T) {
		errStep := errors.New("step failed")
		err := shutdown.Timeout(time.Minute, func(context.Context) error { return errStep })(context.Background())
		require.ErrorIs(t, err, errStep)
	})
	t.Run("gives up on a step that ignores its context", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		start := time.Now()
		err := shutdown.Timeout(50*time.Millisecond, func(context.Context) error { <-release; return nil })(context.Background())
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "gave up after 50ms")
		assert.Less(t, time.Since(start), wait)
	})
	t.Run("the step's context has the earlier deadline", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		err := shutdown.Timeout(time.Minute, func(ctx context.Context) error {
			dl, ok := ctx.Deadline()
			require.True(t, ok)
			assert.Less(t, time.Until(dl), time.Minute+time.Second)
			return nil
		})(parent)
		require.NoError(t, err)
	})
	t.Run("recovers a panic", func(t *testing.T) {
		err := shutdown.Timeout(time.Minute, func(context.Context) error { panic("boom") })(context.Background())
		require.ErrorIs(t, err, shutdown.ErrPanicked)
	})
}

func TestParallel(t *testing.T) {
	var running, peak atomic.Int32
	barrier := make(chan struct{})
	member := func(err error) func(context.Context) error {
		return func(ctx context.Context) error {
			if n := running.Add(1); n > peak.Load() {
				peak.Store(n)
			}
			if running.Load() == 3 {
				close(barrier)
			}
			select {
			case <-barrier:
			case <-ctx.Done():
				return ctx.Err()
			}
			return err
		}
	}
	errA, errB := errors.New("pool a"), errors.New("pool b")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	err := shutdown.Parallel(member(errA), member(nil), member(errB))(ctx)
	require.ErrorIs(t, err, errA)
	require.ErrorIs(t, err, errB)
	assert.EqualValues(t, 3, peak.Load(), "members ran at once")

	err = shutdown.Parallel(func(context.Context) error { panic("boom") }, func(context.Context) error { return nil })(ctx)
	require.ErrorIs(t, err, shutdown.ErrPanicked)
}
