package main

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
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
	Sent      int
	OK        int
	Failed    map[string]int // by kind
	Latencies []time.Duration
	Examples  map[string]string // one error message per kind
	Resent    int               // unprocessed requests the transport sent again
	Truncated int               // streams that ended before their last item (also in Failed)
}

// Failures is the number of failed requests.
func (r *loadResult) Failures() int { return r.Sent - r.OK }

// P99 is the 99th percentile latency of acknowledged requests.
func (r *loadResult) P99() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	l := slices.Clone(r.Latencies)
	slices.Sort(l)
	return l[(len(l)*99+99)/100-1]
}

// openLoop sends requests at a fixed rate, round robin over lanes,
// whatever the responses do (a slow server does not slow the load down),
// until stop is closed or max requests were sent. It then waits for the
// requests in flight, each bounded by timeout, and returns.
func openLoop(stop <-chan struct{}, lanes []sender, rate float64, max int, timeout time.Duration) *loadResult {
	res := &loadResult{Failed: map[string]int{}, Examples: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
loop:
	for i := range max {
		select {
		case <-stop:
			break loop
		case <-timer.C:
		}
		select { // the timer and stop may both be ready: stop wins
		case <-stop:
			break loop
		default:
		}
		timer.Reset(time.Until(start.Add(time.Duration(i+1) * interval)))
		lane := lanes[i%len(lanes)]
		res.Sent++
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			t0 := time.Now()
			err := lane.Send(ctx)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				res.OK++
				res.Latencies = append(res.Latencies, d)
				return
			}
			kind := classify(err)
			if kind == "truncated" {
				res.Truncated++
			}
			res.Failed[kind]++
			if _, ok := res.Examples[kind]; !ok {
				res.Examples[kind] = err.Error()
			}
		})
	}
	wg.Wait()
	for _, l := range lanes {
		res.Resent += l.Resent()
	}
	return res
}

// statusError is a response that arrived but was not a success.
type statusError struct {
	kind string // "503", "Unavailable", ...
	msg  string
}

func (e *statusError) Error() string { return e.msg }

// classify names the kind of a failure for the report.
func classify(err error) string {
	var se *statusError
	var te *truncatedError
	switch {
	case errors.As(err, &te):
		return "truncated"
	case errors.As(err, &se):
		return se.kind
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	// net/http's HTTP/2 client does not wrap these.
	msg := err.Error()
	for _, s := range []string{"GOAWAY", "connection lost", "could not be established", "connection reset", "EOF", "refused"} {
		if strings.Contains(msg, s) {
			return s
		}
	}
	return "other"
}
