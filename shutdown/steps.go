package shutdown

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"
)

// Closer returns a step that closes c. Close cannot be cancelled, so the
// step ignores its context; if Close hangs, the sequence abandons the step
// at the end of its time and goes on. Closer panics if c is nil.
func Closer(c io.Closer) func(context.Context) error {
	if c == nil {
		panic("shutdown: Closer(nil): pass the pool, file or client to close")
	}
	return func(context.Context) error { return c.Close() }
}

// Func returns a step that calls f and reports no error. Like [Closer], it
// ignores its context. Func panics if f is nil.
func Func(f func()) func(context.Context) error {
	if f == nil {
		panic("shutdown: Func(nil): pass the function to call")
	}
	return func(context.Context) error { f(); return nil }
}

// Timeout returns a step that gives fn at most d, or less if the
// sequence's context ends first. When the time is up it returns an error
// wrapping context.DeadlineExceeded without waiting for fn, which is left
// running; fn's context expires at the same moment, so a well-behaved fn
// stops soon after. A panic in fn is reported as a [PanicError].
func Timeout(d time.Duration, fn func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		result := make(chan error, 1) // buffered: fn may outlive this step
		go func() { result <- call(ctx, fn) }()
		select {
		case err := <-result:
			return err
		case <-ctx.Done():
			return fmt.Errorf("shutdown: step gave up after %v: %w", d, context.Cause(ctx))
		}
	}
}

// Parallel returns a step that runs every fn at once, each with the step's
// context, and returns when all have returned, with their errors joined. A
// panic in one is reported as a [PanicError] and does not stop the others. Use it for steps with no order between them, such as
// several database pools.
func Parallel(fns ...func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		errs := make([]error, len(fns))
		var g errgroup.Group
		for i, fn := range fns {
			g.Go(func() error {
				errs[i] = call(ctx, fn)
				return nil
			})
		}
		_ = g.Wait() // members report through errs, so that none is lost
		return errors.Join(errs...)
	}
}
