package shutdown

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// This file holds the run machinery: the goroutine that owns the signals,
// the goroutines run by Serve and Go, and Wait's phases: delay, drains,
// after-drain steps, finish.

// forceSlack is how long before the end of its time a drain's or step's
// context expires, so that one that reacts to its context (a drain that
// forces its connections closed) returns before the sequence abandons it.
const forceSlack = 100 * time.Millisecond

// beforeDrainMinimum is the least time the before-drain hooks get, as
// BeforeDrain documents.
const beforeDrainMinimum = time.Second

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
					backstopTimer.Reset(time.Until(s.backstop()))
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
			backstopTimer = time.NewTimer(time.Until(s.backstop()))
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

// force calls the exit function and makes Wait return ErrForcedExit if it
// returns.
func (s *Sequence) force(why string, attrs ...any) {
	s.log.Error("shutdown: forcing exit: "+why, append(attrs, "code", forcedExitCode)...)
	s.forceOnce.Do(func() { close(s.forced) })
	s.cfg.exit(forcedExitCode)
}

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
// Wait returns by the deadline (trigger time + grace period − safety
// margin) even if a drain or step ignores its context. Calling Wait marks
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
	case <-s.forced:
	}
	if isClosed(s.forced) || !s.sleepUntil(s.trig.at.Add(s.trig.delay)) {
		return ErrForcedExit
	}
	select {
	case <-s.hooksDone: // at the latest just after a late signal
	case <-s.forced:
		return ErrForcedExit
	}
	now := time.Now()
	s.mu.Lock()
	s.timeline.DrainStartedAt = now
	s.drainsRead = true
	members, closers := s.members, len(s.steps)
	s.mu.Unlock()
	close(s.drainStarted)
	s.log.Info("shutdown: draining", "servers_and_workers", len(members), "close_steps", closers)
	errs, ok := s.runDrains(members, closers > 0)
	if ok {
		errs, ok = s.runCloses(errs)
	}
	if !ok {
		errs = append(errs, ErrForcedExit)
	}
	return errors.Join(errs...)
}

// runHooks runs the before-drain hooks together from the trigger until the
// before-drain budget is spent, records them, and closes hooksDone.
func (s *Sequence) runHooks(hooks []*member) {
	defer close(s.hooksDone)
	if len(hooks) == 0 {
		return
	}
	errs, _ := s.runTogether(hooks, PhaseBeforeDrain, s.trig.at, s.trig.at.Add(s.preDrainBudget()))
	s.mu.Lock()
	s.hookErrs = errs
	s.mu.Unlock()
}

// preDrainBudget is the hooks' time from the trigger: the delay applied
// but at least beforeDrainMinimum, itself at most half the time to the
// deadline. A budget of 0 abandoned every hook
// at once (issue 16, item 5).
func (s *Sequence) preDrainBudget() time.Duration {
	return max(s.trig.delay, min(beforeDrainMinimum, s.trig.deadline.Sub(s.trig.at)/2))
}

// sleepUntil waits for t, or a late signal; false means the exit was
// forced.
func (s *Sequence) sleepUntil(t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-s.late: // the delay ends at a late signal
	case <-s.forced:
		return false
	}
	return !isClosed(s.forced)
}

// runDrains runs the drains of members together and waits for them and
// for their goroutines, until the drains' end: the deadline, less the
// after-drain reserve when after-drain steps follow. It returns their errors and false
// if the exit was forced meanwhile.
func (s *Sequence) runDrains(members []*member, reserve bool) ([]error, bool) {
	start := time.Now()
	end := s.deadline()
	if reserve {
		end = end.Add(-min(s.cfg.reserve, max(end.Sub(start)/2, 0)))
	}
	linkErrs := linkStopAfter(members)
	for _, err := range linkErrs {
		s.log.Error("shutdown: step failed", "err", err)
	}
	over := make(chan struct{})
	defer close(over)
	stopAfterDrains(members, over)
	errs, ok := s.runTogether(members, PhaseDrain, start, end)
	return append(linkErrs, errs...), ok
}

// runTogether runs the drains of members together, from start, and waits
// for them and for the members' goroutines until end. It returns their
// errors and false if the exit was forced meanwhile.
func (s *Sequence) runTogether(members []*member, phase Phase, start, end time.Time) ([]error, bool) {
	ctx, cancel := context.WithDeadline(context.Background(), end.Add(-min(forceSlack, max(end.Sub(start)/10, 0))))
	defer cancel()
	recs := make([]Step, len(members))
	finished := make(chan int, len(members))
	over := make(chan struct{}) // the drains' time is over: stop waiting
	defer close(over)
	for i, m := range members {
		recs[i] = Step{Name: m.name, Phase: phase, StartedAt: start}
		go func() {
			var err error
			if m.drain != nil {
				err = call(ctx, m.drain)
			}
			select {
			case <-m.returned:
			case <-over:
				return
			}
			if m.drained != nil {
				close(m.drained)
			}
			if !m.failed {
				err = errors.Join(err, m.err)
			}
			recs[i].Err, recs[i].Duration = err, time.Since(start)
			finished <- i
		}()
	}
	timer := time.NewTimer(time.Until(end))
	defer timer.Stop()
	var cut <-chan struct{}
	if phase == PhaseBeforeDrain {
		cut = s.late // the drains cannot wait for the hooks any longer
	}
	done := make([]bool, len(members))
	for left := len(members); left > 0; left-- {
		select {
		case i := <-finished:
			done[i] = true
		case <-timer.C:
			left = 0
			drainFinished(finished, done) // those that returned at the same instant are not abandoned
		case <-cut:
			left = 0
			drainFinished(finished, done)
		case <-s.forced:
			return nil, false
		}
	}
	var errs []error
	for i := range recs {
		rec := Step{Name: members[i].name, Phase: phase, StartedAt: start}
		if done[i] {
			rec = recs[i] // written before finished
			if rec.Err != nil {
				rec.Err = fmt.Errorf("shutdown: step %q: %w", rec.Name, rec.Err)
			}
		} else {
			rec.Abandoned, rec.Duration = true, time.Since(start)
			rec.Err = fmt.Errorf("shutdown: step %q: %w after %v", rec.Name, ErrAbandoned, rec.Duration.Round(time.Millisecond))
		}
		s.record(rec)
		if rec.Err != nil {
			errs = append(errs, rec.Err)
		}
	}
	return errs, true
}

// drainFinished marks done the members already reported on finished.
func drainFinished(finished <-chan int, done []bool) {
	for {
		select {
		case i := <-finished:
			done[i] = true
		default:
			return
		}
	}
}

// runCloses runs the after-drain steps in order, reading the list afresh each
// time so that steps added meanwhile run too. It returns errs with theirs
// added, and false if the exit was forced meanwhile.
func (s *Sequence) runCloses(errs []error) ([]error, bool) {
	for i := 0; ; i++ {
		s.mu.Lock()
		if i >= len(s.steps) {
			s.stepsRead = true
			s.mu.Unlock()
			return errs, true
		}
		st, count := s.steps[i], len(s.steps)
		s.mu.Unlock()
		if isClosed(s.forced) {
			return errs, false
		}

		rec, ok := s.runStep(st, s.stepEnd(time.Now(), count, count-i-1))
		if !ok {
			return errs, false
		}
		s.record(rec)
		if rec.Err != nil {
			errs = append(errs, rec.Err)
		}
	}
}

// stepEnd is when a after-drain step starting at start must be done: the
// deadline less its share of the after-drain reserve for each of the later close
// steps, out of count.
func (s *Sequence) stepEnd(start time.Time, count, later int) time.Time {
	deadline := s.deadline()
	reserve := min(s.cfg.reserve, max(deadline.Sub(start)/2, 0))
	return deadline.Add(-reserve / time.Duration(count) * time.Duration(later))
}

// runStep runs one after-drain step until it returns or end. It reports false if
// the exit was forced meanwhile.
func (s *Sequence) runStep(st step, end time.Time) (Step, bool) {
	start := time.Now()
	rec := Step{Name: st.name, Phase: PhaseAfterDrain, StartedAt: start}
	if !start.Before(end) {
		rec.Abandoned = true
		rec.Err = fmt.Errorf("shutdown: step %q: %w (not started: the deadline had passed)", st.name, ErrAbandoned)
		return rec, true
	}
	ctx, cancel := context.WithDeadline(context.Background(), end.Add(-min(forceSlack, end.Sub(start)/10)))
	defer cancel()
	result := make(chan error, 1) // buffered: an abandoned step must not block forever
	go func() { result <- call(ctx, st.fn) }()
	s.log.Info("shutdown: after-drain step started", "step", st.name, "budget", end.Sub(start).Round(time.Millisecond).String())
	timer := time.NewTimer(time.Until(end))
	defer timer.Stop()
	select {
	case err := <-result:
		if err != nil {
			rec.Err = fmt.Errorf("shutdown: step %q: %w", st.name, err)
		}
	case <-timer.C:
		rec.Abandoned = true
		rec.Err = fmt.Errorf("shutdown: step %q: %w after %v", st.name, ErrAbandoned, time.Since(start).Round(time.Millisecond))
	case <-s.forced:
		return rec, false
	}
	rec.Duration = time.Since(start)
	return rec, true
}

// record adds rec to the timeline and logs it, in one line: "finished",
// or at ERROR "failed" (it returned an error) or "abandoned" (it ran out
// of time). It is the one place a step's failure is logged.
func (s *Sequence) record(rec Step) {
	s.mu.Lock()
	s.timeline.Steps = append(s.timeline.Steps, rec)
	s.mu.Unlock()
	s.emit(rec)
	attrs := []any{"step", rec.Name, "phase", string(rec.Phase), "duration", rec.Duration.String()}
	if rec.Err == nil {
		s.log.Info("shutdown: step finished", attrs...)
		return
	}
	msg := "shutdown: step failed"
	if rec.Abandoned {
		msg = "shutdown: step abandoned"
	}
	s.log.Error(msg, append(attrs, errAttrs(rec.Err)...)...)
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
	s.err = errors.Join(append(append(s.failures, s.hookErrs...), result)...)
	s.finished = true
	close(s.done)
	s.mu.Unlock()
	s.awaitObserver()
	// Each failure was logged where it was decided: the summary counts
	// them rather than logging them again.
	attrs := []any{"total", tl.FinishedAt.Sub(tl.TriggeredAt).String(), "budget_left", tl.Deadline.Sub(tl.FinishedAt).String()}
	if s.err != nil {
		s.log.Error("shutdown: done", append(attrs, "failures", len(leaves(s.err)))...)
		return
	}
	s.log.Info("shutdown: done", attrs...)
}

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

// call runs fn, turning a panic into a *PanicError.
func call(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn(ctx)
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
