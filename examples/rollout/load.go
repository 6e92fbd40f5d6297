package main

import (
	"context"
	"time"

	"github.com/lameduck/lameduck/internal/loadtest"
)

// DefaultRequestTimeout bounds one request, so that a stuck connection
// shows up as a "timeout" failure and the load always ends.
const DefaultRequestTimeout = 10 * time.Second

// sender sends one request over one of the load's fixed connections and
// returns nil only when the server acknowledged it (HTTP 200, gRPC OK).
// It must not retry. Send is called concurrently.
type sender interface {
	Send(ctx context.Context) error
	// Resent is how many requests the transport sent again because the
	// server refused them unprocessed.
	Resent() int
	Close()
}

// loadResult is what the clients saw.
type loadResult struct {
	*loadtest.Result
	Resent    int // unprocessed requests the transport sent again
	Truncated int // streams that ended before their last item (also in Failures)
}

// P99 is the 99th percentile latency of acknowledged requests.
func (r *loadResult) P99() time.Duration { return r.Percentile(99) }

// openLoop sends requests at a fixed rate, round robin over lanes,
// whatever the responses do (a slow server does not slow the load down),
// until stop is closed or max requests were sent. It then waits for the
// requests in flight, each bounded by timeout, and returns.
func openLoop(stop <-chan struct{}, lanes []sender, rate float64, max int, timeout time.Duration) (*loadResult, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	select {
	case <-stop: // already: send nothing
		cancel()
	default:
	}
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	sends := make([]func(context.Context) error, len(lanes))
	for i, l := range lanes {
		sends[i] = l.Send
	}
	res, err := loadtest.Run(ctx, loadtest.Config{Rate: rate, Max: max, Timeout: timeout}, sends...)
	if err != nil {
		return nil, err
	}
	out := &loadResult{Result: res, Truncated: res.Failures[truncated]}
	for _, l := range lanes {
		out.Resent += l.Resent()
	}
	return out, nil
}
