package shutdown

import (
	"context"
	"io"
)

// Closer returns an after-drain step that closes c. Close cannot be
// cancelled, so the step ignores its context; if Close hangs, the sequence
// abandons the step at the end of its time and goes on. Closer panics if c
// is nil.
func Closer(c io.Closer) func(context.Context) error {
	if c == nil {
		panic("shutdown: Closer(nil): pass the pool, file or client to close")
	}
	return func(context.Context) error { return c.Close() }
}
