package grpcdrain_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
)

const (
	// movingStreams is how many long-lived streams move from the drained
	// server to the other one.
	movingStreams = 50
	// windowBudget is the drain's budget: the streams are told to end
	// the default lead (1 s) before its deadline.
	windowBudget = 3 * time.Second
	// reconnectSpan is the span in which reconnects are counted.
	reconnectSpan = 100 * time.Millisecond
)

// TestStreamEndWindowSpreadsReconnects measures the burst of streams that
// the remaining server gets when the drained one ends its long-lived
// streams, whose clients open them again there at once: the most streams
// opened within any reconnectSpan, with and without a window (logged).
// What it asserts holds on a loaded machine too, where late timers and
// handshakes bunch reconnects up: without a window the streams move in a
// burst; with one, their reconnects span at least a quarter of the window
// (without one, tens of milliseconds). The
// spacing itself is checked on a fake clock (TestNoticeSpreadsOverTheWindow,
// TestDrainWindowSpreadsReconnects). A statistical measurement in real
// time, it runs only with LAMEDUCK_STATS=1.
func TestStreamEndWindowSpreadsReconnects(t *testing.T) {
	statsOnly(t)
	tests := []struct {
		window time.Duration
		check  func(t *testing.T, opened *timeline)
	}{
		{0, func(t *testing.T, opened *timeline) {
			assert.GreaterOrEqual(t, opened.peak(reconnectSpan), movingStreams/2, "told at once, the streams should move in a burst")
		}},
		{1500 * time.Millisecond, func(t *testing.T, opened *timeline) {
			assert.GreaterOrEqual(t, opened.span(), 375*time.Millisecond, "spread over the window, the streams should move over a good part of it (without one: within tens of milliseconds)")
		}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("window %v", tt.window), func(t *testing.T) {
			t.Parallel()
			opened := moveStreams(t, startDrained, tt.window, movingStreams)
			t.Logf("window %v: at most %d of %d streams reopened within %v, over %v", tt.window, opened.peak(reconnectSpan), movingStreams, reconnectSpan, opened.span())
			tt.check(t, opened)
		})
	}
}

// TestDrainWindowSpreadsReconnects checks on the fake clock of a synctest
// bubble, over an in-memory listener, when the clients of the streams the
// drain ends open them again on the other server: all in the same instant
// without a window; one after another, evenly spaced over the window, with
// one.
func TestDrainWindowSpreadsReconnects(t *testing.T) {
	const window = 1500 * time.Millisecond
	const streams = 20 // the spacing is exact: a few show it
	turn := window / streams
	for _, w := range []time.Duration{0, window} {
		t.Run(fmt.Sprintf("window %v", w), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				opened := moveStreams(t, startDrainedMem, w, streams)
				if w == 0 {
					assert.Equal(t, time.Duration(0), opened.span())
					assert.Equal(t, streams, opened.peak(reconnectSpan))
					return
				}
				assert.Equal(t, turn*(streams-1), opened.span())
				assert.Equal(t, int((reconnectSpan+turn-1)/turn), opened.peak(reconnectSpan))
			})
		})
	}
}

// moveStreams opens n long-lived streams on a server started
// with start and a window of window, drains it, and returns when each
// stream was opened again on another server.
func moveStreams(t *testing.T, start func(*testing.T, *service, trigger, ...grpcdrain.Option) (*server, *grpcdrain.Server), window time.Duration, n int) *timeline {
	t.Helper()
	from, d := start(t, newService("a"), nil, grpcdrain.WithDrainWindow(window))
	toSvc := newService("b")
	toSvc.opened = new(timeline)
	to, _ := start(t, toSvc, nil)
	fromCC, toCC := dialServer(t, from), dialServer(t, to)

	var wg sync.WaitGroup
	moved := make(chan error, n)
	for range n {
		opened := make(chan struct{})
		wg.Go(func() { moved <- moveStream(fromCC, toCC, opened) })
		waitClosed(t, opened, "stream open on the drained server")
	}

	ctx, cancel := context.WithTimeout(context.Background(), windowBudget)
	defer cancel()
	require.NoError(t, d.Drain(ctx))
	wg.Wait()
	close(moved)
	for err := range moved {
		require.NoError(t, err)
	}
	require.Equal(t, n, toSvc.opened.len())
	return toSvc.opened
}

// moveStream holds a Ticks stream on from until the server ends it with
// codes.Unavailable, then opens one on to, as a watcher would; it closes
// opened once the first stream is under way.
func moveStream(from, to *grpc.ClientConn, opened chan struct{}) error {
	defer closeIfOpen(opened)
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	stream, err := testpb.NewTestClient(from).Ticks(ctx, &testpb.TicksRequest{IntervalMs: 50})
	if err != nil {
		return err
	}
	// Bounded: the stream gets a tick every 50 ms for a few seconds.
	for i := 0; i < 100_000; i++ {
		if _, err = stream.Recv(); err != nil {
			break
		}
		if i == 0 {
			close(opened)
		}
	}
	if errors.Is(err, io.EOF) || status.Code(err) != codes.Unavailable {
		return fmt.Errorf("the drained server ended the stream with %v, want Unavailable", err)
	}
	again, err := testpb.NewTestClient(to).Ticks(ctx, &testpb.TicksRequest{IntervalMs: 50})
	if err != nil {
		return err
	}
	_, err = again.Recv()
	return err
}

func closeIfOpen(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}
