package shutdown

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// This file holds the run machinery: the goroutine that owns the signals,
// the goroutines run by Serve and Go, and Wait's phases: delay, drains,
// after-drain steps, finish.

// watch is the one goroutine that owns the signals: the first signal
// triggers the sequence, the second forces the exit; a closed source means
// no more signals. It also forces the exit if the sequence has not
// finished by its deadline plus half the safety margin (Wait never called,
// or start-up hung), so that the kubelet never has to SIGKILL the process.
// It ends when the sequence is done.
func (s *Sequence) watch() {
	signals, triggered := s.signals, s.triggered
	var backstop <-chan time.Time
	var backstopTimer *time.Timer
	for {
		select {
		case sig, ok := <-signals:
			if !ok {
				signals = nil // a closed source sends no more signals
				continue
			}
			if s.triggeredBySignal() {
				s.force("second signal", "signal", signalName(sig))
				return
			}
			if isClosed(s.triggered) {
				if s.joinSignal(sig) && backstopTimer != nil {
					backstopTimer.Reset(time.Until(s.budget("", time.Time{}, 0, 0).backstop)) // re-planned
				}
				continue
			}
			kind := bySignal
			if sig == os.Interrupt {
				kind = byInterrupt // nobody routes traffic by Ctrl-C: no delay
			}
			s.trigger(signalName(sig), kind, nil)
		case <-triggered:
			triggered = nil
			backstopTimer = time.NewTimer(time.Until(s.budget("", time.Time{}, 0, 0).backstop))
			defer backstopTimer.Stop()
			backstop = backstopTimer.C
		case <-backstop:
			s.force("sequence not finished by its deadline")
			return
		case <-s.done:
			return
		}
	}
}

// triggeredBySignal reports whether a signal has been seen before, and
// notes that one has: owned by watch.
func (s *Sequence) triggeredBySignal() bool {
	seen := s.signalSeen
	s.signalSeen = true
	return seen
}

// force cancels the run with cause ErrForcedExit, calls the exit
// function, and makes Wait return ErrForcedExit if it returns.
func (s *Sequence) force(why string, attrs ...any) {
	s.log.Error("shutdown: forcing exit: "+why, append(attrs, "code", forcedExitCode)...)
	s.forceRun(ErrForcedExit)
	s.cfg.exit(forcedExitCode)
}

// errDeadline is the cause of the run's cancellation at the deadline.
var errDeadline = errors.New("shutdown: deadline passed")

// forcedExit reports whether the exit was forced: the run's context was
// cancelled with cause ErrForcedExit, at any moment, before or after the
// deadline.
func (s *Sequence) forcedExit() bool { return s.forced.Err() != nil }

// A member is a server or worker run under the sequence.
type member struct {
	name     string
	drain    func(context.Context) error // nil for a worker
	worker   bool
	returned chan struct{} // closed when its goroutine returned
	err      error         // its goroutine's error, read after returned
	failed   bool          // err was reported through Fail

	drained   chan struct{}           // a server: closed when its drain and serve call returned
	stopAfter []string                // a worker run with StopAfter: the servers' names
	stop      context.CancelCauseFunc // cancels that worker's context
	after     []*member               // the servers it stops after, linked when the drains start
}

// start runs fn as m's goroutine, failing the sequence if fn ends too
// early.
func (s *Sequence) start(m *member, fn func() error) {
	s.mu.Lock()
	if s.drainsRead {
		s.mu.Unlock()
		s.log.Error("shutdown: started after the drains; not run", "name", m.name)
		return
	}
	s.members = append(s.members, m)
	s.mu.Unlock()
	go func() {
		err := fn()
		early := !isClosed(s.drainStarted)
		if m.worker {
			early = err != nil && !isClosed(s.triggered)
		}
		if early {
			if err == nil {
				err = errors.New("returned before the drain")
			}
			err = fmt.Errorf("shutdown: step %q: %w", m.name, err)
			m.failed = true
		} else if !m.worker && err != nil && !errors.As(err, new(*PanicError)) {
			// The server stopping: grpc's Serve called after GracefulStop
			// returns grpc.ErrServerStopped, which a SIGINT during start-up
			// made a failure (issue 16, item 15).
			s.log.Info("shutdown: serve call returned after its drain started", "step", m.name, "err", err)
			err = nil
		}
		m.err = err
		close(m.returned)
		if m.failed {
			s.Fail(err)
		}
	}()
}

// Wait runs the sequence: it waits for a trigger, spends the propagation
// delay, runs the drains, then the after-drain steps, and returns nil or every
// failure and error joined, each naming what failed.
//
// The drains start together when the delay is over: the drain step of
// every server run with [Sequence.Serve] runs, and Wait waits for each
// server's serve call and for every goroutine run with [Sequence.Go] to
// return. They share one deadline: the sequence's deadline, less
// [WithAfterDrainReserve] when after-drain steps follow; what has not
// returned by then is abandoned and reported with [ErrAbandoned]. Then the
// after-drain steps added with [Sequence.AfterDrain] run one at a time, in
// order, and the admin listeners of [Sequence.ServeAdmin] close last.
//
// Wait blocks until the sequence has finished, and returns by the
// deadline (trigger + grace period − safety margin, or earlier after a
// late signal) even if a drain or step ignores its context: what has not
// returned is left running. It returns nil when every step returned nil;
// otherwise every failure ([Sequence.Fail], a server or goroutine that
// failed), every step's error, each naming its step, and [ErrForcedExit]
// if the exit was forced and the process is still running, joined with
// errors.Join. Before it returns, the /prestop answers under way are
// written, the admin listeners are closed, and the observer has returned
// from the last step (each at most until the deadline). Calling Wait marks
// the end of start-up: without a readiness endpoint that reports to the
// sequence ([Sequence.TrackReadiness]), a failure before it skips the
// propagation delay; with one, what its answers said decides.
// Wait does not trigger the sequence; until a trigger it blocks. Wait may
// be called more than once and from several goroutines: the sequence runs
// once and every call returns its result.
func (s *Sequence) Wait() error {
	s.mu.Lock()
	s.waiting = true
	s.mu.Unlock()
	s.runOnce.Do(func() { s.finish(s.run()) })
	<-s.done
	return s.err
}

func (s *Sequence) run() error {
	select {
	case <-s.triggered:
	case <-s.forced.Done():
		return nil // finish reports the forced exit
	}
	b := s.budget("", time.Time{}, 0, 0)
	if !s.sleepUntil(b.delayEnd, s.late) {
		return nil
	}
	select {
	case <-s.hooksDone: // at the latest just after a late signal
	case <-s.forced.Done():
		return nil
	}
	now := time.Now()
	s.mu.Lock()
	s.timeline.DrainStartedAt = now
	s.drainsRead = true
	members, steps := s.members, len(s.steps)
	s.mu.Unlock()
	close(s.drainStarted)
	s.log.Info("shutdown: draining", "servers_and_workers", len(members), "after_drain_steps", steps)
	errs := s.runDrains(now, members, steps)
	if !s.forcedExit() {
		errs = s.runAfterDrain(errs)
	}
	return errors.Join(errs...)
}

// runHooks runs the before-drain hooks together from the trigger until
// their time is up or a late signal cuts it, records them, and closes
// hooksDone.
func (s *Sequence) runHooks(hooks []*member) {
	defer close(s.hooksDone)
	if len(hooks) == 0 {
		return
	}
	errs := s.runMembers(PhaseBeforeDrain, s.trig.at, hooks, s.budget(PhaseBeforeDrain, s.trig.at, 0, 0), s.late)
	s.mu.Lock()
	s.hookErrs = errs
	s.mu.Unlock()
}

// sleepUntil waits for t, or until cut is closed; false means the exit
// was forced.
func (s *Sequence) sleepUntil(t time.Time, cut <-chan struct{}) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-cut:
	case <-s.forced.Done():
	}
	return !s.forcedExit()
}

// runDrains runs the drains of members together from start and waits for
// them and for their goroutines until the drains' time is up, and returns
// their errors.
func (s *Sequence) runDrains(start time.Time, members []*member, steps int) []error {
	linkErrs := linkStopAfter(members)
	for _, err := range linkErrs {
		s.log.Error("shutdown: step failed", "err", err)
	}
	over := make(chan struct{})
	defer close(over)
	stopAfterDrains(members, over)
	return append(linkErrs, s.runMembers(PhaseDrain, start, members, s.budget(PhaseDrain, start, steps, 0), nil)...)
}

// runMembers runs the drains (nil for a worker or a hook's none) of
// members together with runUntil, and records each: finished, or
// abandoned when its time was up first. For a server or worker, the step
// is over when its goroutine has also returned. It returns their errors.
func (s *Sequence) runMembers(phase Phase, start time.Time, members []*member, b budget, cut <-chan struct{}) []error {
	fns := make([]func(context.Context, <-chan struct{}) error, len(members))
	for i, m := range members {
		fns[i] = func(ctx context.Context, over <-chan struct{}) error {
			var err error
			if m.drain != nil {
				err = call(ctx, m.drain)
			}
			select {
			case <-m.returned:
			case <-over:
				return err // abandoned: not recorded
			}
			if m.drained != nil {
				close(m.drained)
			}
			if !m.failed {
				err = errors.Join(err, m.err)
			}
			return err
		}
	}
	results := runUntil(s.runCtx, b.stepCtx, b.end, cut, fns)
	var errs []error
	for i, r := range results {
		if err := s.record(stepOf(members[i].name, phase, start, r)); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// A result is what runUntil saw of one function.
type result struct {
	err      error
	done     bool          // it returned in time; err is its error
	duration time.Duration // until it returned, or until runUntil stopped waiting
}

// stepOf makes the Step of a function's result, its error naming it.
func stepOf(name string, phase Phase, start time.Time, r result) Step {
	st := Step{Name: name, Phase: phase, StartedAt: start, Duration: r.duration}
	switch {
	case !r.done:
		st.Abandoned = true
		st.Err = fmt.Errorf("shutdown: step %q: %w after %v", name, ErrAbandoned, r.duration.Round(time.Millisecond))
	case r.err != nil:
		st.Err = fmt.Errorf("shutdown: step %q: %w", name, r.err)
	}
	return st
}

// runUntil runs each of fns in a goroutine of its own, with a context
// that expires at ctxEnd and a channel closed when runUntil stops
// waiting, and waits until each has returned, end has come, cut is closed
// or ctx is done (the deadline passed, or the exit was forced). Functions
// that returned by then, at the same instant too, are done; the others are
// left running, and see their channel closed. It is the one wait of the
// sequence for work it does not control.
func runUntil(ctx context.Context, ctxEnd, end time.Time, cut <-chan struct{}, fns []func(context.Context, <-chan struct{}) error) []result {
	start := time.Now()
	fnCtx, cancel := context.WithDeadline(ctx, ctxEnd)
	defer cancel()
	over := make(chan struct{})
	defer close(over)
	type returned struct {
		i int
		r result
	}
	finished := make(chan returned, len(fns)) // buffered: no sender waits once runUntil returns
	for i, fn := range fns {
		go func() {
			err := fn(fnCtx, over)
			finished <- returned{i, result{err: err, done: true, duration: time.Since(start)}}
		}()
	}
	timer := time.NewTimer(time.Until(end))
	defer timer.Stop()
	results := make([]result, len(fns))
	for left := len(fns); left > 0; left-- {
		select {
		case f := <-finished:
			results[f.i] = f.r
			continue
		case <-timer.C:
		case <-cut:
		case <-ctx.Done():
		}
		for late := true; late; { // those that returned at the same instant are not abandoned
			select {
			case f := <-finished:
				results[f.i] = f.r
			default:
				late = false
			}
		}
		break
	}
	for i, r := range results {
		if !r.done {
			results[i].duration = time.Since(start)
		}
	}
	return results
}

// runAfterDrain runs the after-drain steps in order, reading the list
// afresh each time so that steps added meanwhile run too, until the list
// is done or the exit is forced. It returns errs with theirs added.
func (s *Sequence) runAfterDrain(errs []error) []error {
	for i := 0; ; i++ {
		s.mu.Lock()
		if i >= len(s.steps) {
			s.stepsRead = true
			s.mu.Unlock()
			return errs
		}
		st, count := s.steps[i], len(s.steps)
		s.mu.Unlock()
		if s.forcedExit() {
			return errs
		}
		start := time.Now()
		b := s.budget(PhaseAfterDrain, start, count, count-i-1)
		if !start.Before(b.end) || s.runCtx.Err() != nil {
			err := fmt.Errorf("shutdown: step %q: %w (not started: the deadline had passed)", st.name, ErrAbandoned)
			s.record(Step{Name: st.name, Phase: PhaseAfterDrain, StartedAt: start, Abandoned: true, Err: err})
			errs = append(errs, err)
			continue
		}
		s.log.Info("shutdown: after-drain step started", "step", st.name, "budget", b.end.Sub(start).Round(time.Millisecond).String())
		fn := st.fn
		r := runUntil(s.runCtx, b.stepCtx, b.end, nil, []func(context.Context, <-chan struct{}) error{
			func(ctx context.Context, _ <-chan struct{}) error { return call(ctx, fn) },
		})
		if s.forcedExit() {
			return errs // a forced exit is not the step's doing
		}
		if err := s.record(stepOf(st.name, PhaseAfterDrain, start, r[0])); err != nil {
			errs = append(errs, err)
		}
	}
}

// record adds rec to the timeline and logs it, in one line: "finished",
// or at ERROR "failed" (it returned an error) or "abandoned" (it ran out
// of time). It is the one place a step's failure is logged. It returns
// rec.Err.
func (s *Sequence) record(rec Step) error {
	s.mu.Lock()
	s.timeline.Steps = append(s.timeline.Steps, rec)
	s.mu.Unlock()
	s.emit(rec)
	attrs := []any{"step", rec.Name, "phase", string(rec.Phase), "duration", rec.Duration.String()}
	if rec.Err == nil {
		s.log.Info("shutdown: step finished", attrs...)
		return nil
	}
	msg := "shutdown: step failed"
	if rec.Abandoned {
		msg = "shutdown: step abandoned"
	}
	s.log.Error(msg, append(attrs, errAttrs(rec.Err)...)...)
	return rec.Err
}

// errAttrs are the log attributes of err: the error, and a panic's stack.
func errAttrs(err error) []any {
	attrs := []any{"err", err}
	var pe *PanicError
	if errors.As(err, &pe) {
		attrs = append(attrs, "stack", string(pe.Stack))
	}
	return attrs
}

// finish joins the failures, the hooks' errors and run's result into
// Wait's result and closes done, both under s.mu: a Fail either gets in
// before, or finds the sequence finished and Done already closed.
func (s *Sequence) finish(result error) {
	s.mu.Lock()
	s.finishing = true
	s.mu.Unlock()
	s.awaitPrestops()
	s.closeAdmins()
	now := time.Now()
	s.mu.Lock()
	s.timeline.FinishedAt = now
	tl := s.timeline
	if s.forcedExit() {
		result = errors.Join(result, ErrForcedExit)
	}
	s.err = errors.Join(append(append(s.failures, s.hookErrs...), result)...)
	s.finished = true
	close(s.done)
	s.mu.Unlock()
	s.awaitObserver()
	if s.deadlineTimer != nil { // nil if never triggered
		s.deadlineTimer.Stop()
	}
	s.stopRun(errDeadline) // the run is over: release its context
	// Each failure was logged where it was decided: the summary counts
	// them rather than logging them again.
	attrs := []any{"total", tl.FinishedAt.Sub(tl.TriggeredAt).String(), "budget_left", tl.Deadline.Sub(tl.FinishedAt).String()}
	if s.err != nil {
		s.log.Error("shutdown: done", append(attrs, "failures", len(leaves(s.err)))...)
		return
	}
	s.log.Info("shutdown: done", attrs...)
}

// leaves returns the errors errors.Join joined into err, or err itself.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// isClosed reports whether ch, a channel that is only ever closed, is.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
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
