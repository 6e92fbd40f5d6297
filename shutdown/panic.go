package shutdown

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
)

// A PanicError is the error of a step (a hook, serve call, drain,
// goroutine or after-drain step) that panicked. When the panic's value is
// an error, it unwraps to it. Its message is one line; the stack is in
// Stack. Find one with errors.As(err, new(*PanicError)).
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the panicking goroutine's stack, from runtime/debug.Stack
}

// Error returns "panic: " and the value; a value whose text
// spans lines is quoted, so that the message stays on one line.
func (e *PanicError) Error() string {
	msg := fmt.Sprint(e.Value)
	if strings.ContainsAny(msg, "\r\n") {
		msg = strconv.Quote(msg)
	}
	return "panic: " + msg
}

// Unwrap returns the panic's value if it is an error, and nil otherwise.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// call runs fn, turning a panic into a *PanicError.
func call(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn(ctx)
}
