package shutdown_test

import (
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/internal/testmain"
	"github.com/lameduck/lameduck/shutdown"
	"github.com/lameduck/lameduck/shutdown/internal/hook"
)

// wait bounds every blocking wait in these tests: generous, for busy CI.
const wait = 15 * time.Second

// beforeDrainMinimum is the least time before-drain hooks get, as
// BeforeDrain documents.
const beforeDrainMinimum = time.Second

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(childMain(mode))
	}
	testmain.Run(m)
}

// newSequence returns a Sequence fed by the returned signal channel, whose
// exit function fails the test unless opts replace it. When the test ends
// without the sequence done, two signals force it to end, so that its
// signal goroutine does not outlive the test.
func newSequence(t *testing.T, opts ...shutdown.Option) (*shutdown.Sequence, chan<- os.Signal) {
	t.Helper()
	sigs := make(chan os.Signal, 4)
	var ending atomic.Bool
	ended := make(chan struct{})
	base := []shutdown.Option{
		shutdown.WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))),
		testHooks(sigs, func(code int) {
			if ending.Load() {
				close(ended)
				return
			}
			t.Errorf("unexpected exit(%d)", code)
		}),
	}
	seq, err := shutdown.New(append(base, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ending.Store(true)
		if seq.Timeline().FinishedAt.IsZero() {
			sigs <- syscall.SIGTERM
			sigs <- syscall.SIGTERM
			select { // the signal goroutine returns right after
			case <-ended:
			case <-time.After(wait):
			}
		}
	})
	return seq, sigs
}

// testHooks returns the option that makes a sequence read its signals
// from sigs (nil: the process's) and call exit (nil: os.Exit) to force an
// exit.
func testHooks(sigs <-chan os.Signal, exit func(code int)) shutdown.Option {
	return hook.Option(hook.Settings{Signals: sigs, Exit: exit}).(shutdown.Option)
}

// waitAsync runs seq.Wait in a goroutine and returns its result channel.
func waitAsync(seq *shutdown.Sequence) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- seq.Wait() }()
	return errc
}

func recvErr(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(wait):
		t.Fatal("Wait did not return")
		return nil
	}
}

func requireClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatalf("%s was not closed", what)
	}
}

func requireOpen(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s was closed too early", what)
	default:
	}
}
