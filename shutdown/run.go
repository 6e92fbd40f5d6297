package shutdown

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"syscall"
	"time"
)

// forceSlack is how long before the end of its time a step's context
// expires, so that a step that reacts to its context (a drain that forces
// its connections closed) returns before the sequence abandons it.
const forceSlack = 100 * time.Millisecond

// runSteps runs the registered steps in order, reading the list afresh
// each time so that steps added while others run are run too.
func (s *Sequence) runSteps() error {
	var errs []error
	for i := 0; ; i++ {
		s.mu.Lock()
		if i >= len(s.steps) {
			s.mu.Unlock()
			return errors.Join(errs...)
		}
		st, later := s.steps[i], len(s.steps)-i-1
		s.mu.Unlock()

		rec, forced := s.runStep(st, later)
		if forced {
			return errors.Join(append(errs, ErrForcedExit)...)
		}
		s.mu.Lock()
		s.timeline.Steps = append(s.timeline.Steps, rec)
		s.mu.Unlock()
		if rec.Err != nil {
			errs = append(errs, rec.Err)
		}
	}
}

// runStep runs one step until it returns or its time is up, handling
// signals meanwhile. It reports whether a second signal forced an exit.
func (s *Sequence) runStep(st step, later int) (rec StepRecord, forced bool) {
	start := time.Now()
	rec = StepRecord{Name: st.name, Started: start}
	end := s.stepEnd(start, later)
	if !start.Before(end) {
		rec.Err = fmt.Errorf("shutdown: step %q not started: %w (the deadline had passed)", st.name, ErrAbandoned)
		s.log.Error("shutdown: step skipped", "step", st.name, "err", rec.Err)
		return rec, false
	}
	ctx, cancel := context.WithDeadline(context.Background(), end.Add(-min(forceSlack, end.Sub(start)/10)))
	defer cancel()
	result := make(chan error, 1) // buffered: an abandoned step must not block forever
	go func() { result <- call(ctx, st.fn) }()

	s.log.Info("shutdown: step started", "step", st.name, "time", end.Sub(start).Round(time.Millisecond))
	timer := time.NewTimer(time.Until(end))
	defer timer.Stop()
	for {
		select {
		case err := <-result:
			if err != nil {
				rec.Err = fmt.Errorf("shutdown: step %q: %w", st.name, err)
			}
		case <-timer.C:
			rec.Abandoned = true
			rec.Err = fmt.Errorf("shutdown: step %q: %w after %v", st.name, ErrAbandoned, time.Since(start).Round(time.Millisecond))
		case sig := <-s.signals:
			if s.onSignal(sig) {
				return rec, true
			}
			continue
		}
		rec.Duration = time.Since(start)
		s.log.Info("shutdown: step finished", "step", st.name, "duration", rec.Duration, "err", rec.Err)
		return rec, false
	}
}

// stepEnd is when a step starting at start with later steps after it must
// be done: the deadline less a reserve for each later step, the reserve
// never taking more than half the time left.
func (s *Sequence) stepEnd(start time.Time, later int) time.Time {
	reserve := time.Duration(later) * s.cfg.reserve
	if left := s.trig.deadline.Sub(start); reserve > left/2 {
		reserve = max(left/2, 0)
	}
	return s.trig.deadline.Add(-reserve)
}

// call runs fn, turning a panic into an error that wraps [ErrPanicked]
// and carries the stack.
func call(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v\n%s", ErrPanicked, r, debug.Stack())
		}
	}()
	return fn(ctx)
}

// signalName names the usual termination signals as operators write them.
func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	}
	return sig.String()
}
