package shutdown_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
)

// TestClosedSignalSource: closing the channel given to WithSignalSource
// means no more signals; it used to crash the process with a nil-pointer
// panic (7/7).
func TestClosedSignalSource(t *testing.T) {
	for _, when := range []string{"before the trigger", "after the first signal"} {
		t.Run(when, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := make(chan os.Signal, 1)
				seq, _ := newSequence(t, shutdown.WithSignalSource(src), shutdown.WithPropagationDelay(time.Second))
				start := time.Now()
				if when == "after the first signal" {
					src <- syscall.SIGTERM
				}
				close(src)
				synctest.Wait()
				if when == "before the trigger" {
					assert.False(t, closed(seq.Triggered()), "a closed source is not a signal")
					seq.Trigger("test")
				}
				require.NoError(t, seq.Wait())
				assert.Equal(t, time.Second, time.Since(start))
			})
		})
	}
}

// TestClosedSignalSourceKeepsTheBackstop: with the source closed and Wait
// never called, the backstop still forces the exit on time.
func TestClosedSignalSourceKeepsTheBackstop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := make(chan os.Signal)
		exited := make(chan int, 1)
		seq, _ := newSequence(t, shutdown.WithSignalSource(src), shutdown.WithGracePeriod(10*time.Second),
			shutdown.WithExit(func(code int) { exited <- code }))
		close(src)
		start := time.Now()
		seq.Trigger("test")
		assert.Equal(t, shutdown.DefaultForceExitCode, <-exited)
		assert.Equal(t, 9*time.Second, time.Since(start), "deadline + half the margin")
		require.ErrorIs(t, seq.Wait(), shutdown.ErrForcedExit)
	})
}

// TestPanicErrorIsOneLine: a panic value with newlines gives a one-line
// message; the value and the stack stay available.
func TestPanicErrorIsOneLine(t *testing.T) {
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"plain", "nil map", "shutdown: panic: nil map"},
		{"newlines", "first\nsecond\r\nthird", `shutdown: panic: "first\nsecond\r\nthird"`},
		{"error with newlines", errors.New("a\nb"), `shutdown: panic: "a\nb"`},
		{"nil", nil, "shutdown: panic: <nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := &shutdown.PanicError{Value: tt.value, Stack: []byte("goroutine 1\nmain.main()")}
			assert.Equal(t, tt.want, err.Error())
		})
	}
	synctest.Test(t, func(t *testing.T) {
		seq, _ := newSequence(t, shutdown.WithPropagationDelay(0))
		seq.Add("boom", func(context.Context) error { panic("line one\nline two") })
		seq.Trigger("test")
		err := seq.Wait()
		require.ErrorIs(t, err, shutdown.ErrPanicked)
		assert.Equal(t, `shutdown: boom: shutdown: panic: "line one\nline two"`, err.Error())
		var pe *shutdown.PanicError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "line one\nline two", pe.Value)
		assert.Contains(t, string(pe.Stack), "TestPanicErrorIsOneLine")
	})
}

// TestServePanics: a serve function that panics is recovered like a
// worker's panic: the sequence fails with a PanicError naming the server,
// and the other drains and the close steps still run. It used to crash the
// process (7/7).
func TestServePanics(t *testing.T) {
	for _, when := range []string{"during start-up", "while serving", "at the drain"} {
		t.Run(when, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				seq, _ := newSequence(t, shutdown.WithPropagationDelay(time.Second))
				other := newFakeServer()
				close(other.inFlight)
				otherDrained := false
				seq.Serve("admin", other.serve, func(ctx context.Context) error { otherDrained = true; return other.drain(ctx) })
				stop, crash := make(chan struct{}), make(chan struct{})
				seq.Serve("http", func() error {
					select {
					case <-stop:
					case <-crash:
					}
					panic("serve: index out of range\n[3] with length 3")
				}, func(context.Context) error {
					close(stop)
					return nil
				})
				closedDB := false
				seq.Add("db", func(context.Context) error { closedDB = true; return nil })
				var errc <-chan error
				start := time.Now()
				switch when {
				case "during start-up":
					close(crash)
					synctest.Wait()
					assert.True(t, closed(seq.Triggered()), "the panic triggers the sequence")
					errc = waitAsync(seq)
				case "while serving":
					errc = waitAsync(seq)
					synctest.Wait()
					close(crash)
				case "at the drain":
					errc = waitAsync(seq)
					seq.Trigger("test")
				}
				err := <-errc
				require.ErrorIs(t, err, shutdown.ErrPanicked)
				var pe *shutdown.PanicError
				require.ErrorAs(t, err, &pe)
				assert.Contains(t, string(pe.Stack), "TestServePanics")
				assert.Contains(t, err.Error(), `shutdown: http: shutdown: panic: "serve: index out of range\n[3] with length 3"`)
				assert.Equal(t, 1, strings.Count(err.Error(), "index out of range"), "reported once")
				assert.True(t, otherDrained, "the other server drained")
				assert.True(t, closedDB, "the close steps ran")
				wantDelay := time.Second
				if when == "during start-up" {
					wantDelay = 0
				}
				assert.Equal(t, wantDelay, time.Since(start))
			})
		})
	}
}
