package loadtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultTimeout bounds one request when [Config].Timeout is zero, so that
// a stuck connection shows up as a "timeout" failure and the load ends.
const DefaultTimeout = 10 * time.Second

// Config is an open-loop load.
type Config struct {
	// Rate is how many requests start per second. Required.
	Rate float64
	// Max is how many requests start at most. Required: it bounds the
	// load in count, and with Rate in time.
	Max int
	// Timeout bounds each request. Defaults to [DefaultTimeout].
	Timeout time.Duration
	// Before, if not nil, is called with i just before request i (from
	// 0) starts, on Run's goroutine: a test uses it to act at a known
	// point of the load. While it runs no request starts.
	Before func(i int)
}

// Run starts requests at cfg.Rate, round robin over lanes, until ctx is
// done or cfg.Max requests have started, then waits for the requests in
// flight and returns what they saw. Requests start 1/Rate apart from the
// call of Run, whatever the answers do: a slow server does not slow the
// load down. When Run falls behind (a busy machine, a slow Before), it
// starts one late request at once and skips the other starts it missed,
// as a time.Ticker drops ticks, rather than send them in a burst. Each
// request runs with its own context, ctx's values but not its
// cancellation, bounded by cfg.Timeout.
//
// A lane is called concurrently with itself, once per request; it must
// send the request exactly once, never retry, and return nil only for a
// success. Its errors are counted by [Reason]. Run returns an error, and
// sends nothing, when cfg or lanes are not valid.
func Run(ctx context.Context, cfg Config, lanes ...func(context.Context) error) (*Result, error) {
	if err := cfg.check(len(lanes)); err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	var tally Tally
	var wg sync.WaitGroup
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range cfg.Max {
		if !waitTurn(ctx, timer) {
			break
		}
		next = nextStart(next, interval, time.Now())
		timer.Reset(time.Until(next))
		if cfg.Before != nil {
			cfg.Before(i)
		}
		lane := lanes[i%len(lanes)]
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		wg.Go(func() {
			defer cancel()
			tally.Do(rctx, lane)
		})
	}
	wg.Wait()
	return tally.Result(), nil
}

// nextStart returns the start that follows prev, interval later, or the
// first after now of the starts interval apart if that one is already
// past.
func nextStart(prev time.Time, interval time.Duration, now time.Time) time.Time {
	next := prev.Add(interval)
	if next.Before(now) {
		next = next.Add(now.Sub(next).Truncate(interval) + interval)
	}
	return next
}

// waitTurn waits for timer and reports true, or false once ctx is done;
// when both are ready, ctx wins.
func waitTurn(ctx context.Context, timer *time.Timer) bool {
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
	}
	return ctx.Err() == nil
}

func (cfg Config) check(lanes int) error {
	var errs []error
	if !(cfg.Rate > 0) {
		errs = append(errs, fmt.Errorf("loadtest: Rate %v is not positive: set the requests per second", cfg.Rate))
	}
	if cfg.Max <= 0 {
		errs = append(errs, fmt.Errorf("loadtest: Max %d is not positive: set how many requests to send at most", cfg.Max))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("loadtest: Timeout %v is negative: set it to 0 for DefaultTimeout", cfg.Timeout))
	}
	if lanes == 0 {
		errs = append(errs, errors.New("loadtest: no lane: pass at least one func that sends a request"))
	}
	return errors.Join(errs...)
}
