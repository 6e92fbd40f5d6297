package shutdown

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"time"
)

// Errors reported by a [Sequence]. Match them with errors.Is.
var (
	// ErrTriggered is the cause (context.Cause) of [Sequence.Context]'s
	// cancellation.
	ErrTriggered = errors.New("shutdown: sequence triggered")
	// ErrAbandoned wraps the error of a step that had not returned by the
	// end of its time, or that never started because the deadline had
	// passed.
	ErrAbandoned = errors.New("shutdown: step abandoned at its deadline")
	// ErrPanicked wraps the error of a step that panicked.
	ErrPanicked = errors.New("shutdown: step panicked")
	// ErrForcedExit is returned by Wait when a second signal forced an
	// exit and the exit function (see [WithExit]) returned.
	ErrForcedExit = errors.New("shutdown: exit forced by a second signal")
)

// A Sequence is a process's termination sequence: the lifecycle signals,
// the registered steps and the budget they share. Create one with [New] at
// the top of main; its methods are safe for concurrent use.
type Sequence struct {
	cfg     config
	log     *slog.Logger
	signals <-chan os.Signal

	triggered, draining, done chan struct{}
	ctx                       context.Context
	cancel                    context.CancelCauseFunc

	triggerOnce sync.Once
	trig        trigger // written once in triggerOnce; read after <-triggered
	signalsSeen int     // owned by the goroutine running Wait's sequence

	mu        sync.Mutex
	steps     []step
	timeline  Timeline
	finishing bool           // no /prestop answer may start: Wait is returning
	prestops  sync.WaitGroup // /prestop answers under way; Add under mu while !finishing

	runOnce sync.Once
	err     error // written once in runOnce; read after <-done
}

type trigger struct {
	source   string
	at       time.Time
	delay    time.Duration
	deadline time.Time
}

type step struct {
	name string
	fn   func(context.Context) error
}

// New returns a Sequence configured by opts, or an error naming every
// option that is invalid and how to fix it. Unless [WithSignalSource] is
// given, New subscribes to the configured signals at once, so that a
// SIGTERM arriving before [Sequence.Wait] is queued rather than killing the
// process. The subscription is never undone, so that a SIGTERM arriving
// after Wait returned, while main returns (the kubelet's, sent when a
// /prestop hook returns, may come after a quick drain), does not kill the
// process with a non-zero status.
func New(opts ...Option) (*Sequence, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	s := &Sequence{
		cfg:       cfg,
		log:       cfg.logger,
		signals:   cfg.source,
		triggered: make(chan struct{}),
		draining:  make(chan struct{}),
		done:      make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	if cfg.source == nil && len(cfg.signals) > 0 {
		ch := make(chan os.Signal, 2)
		signal.Notify(ch, cfg.signals...)
		s.signals = ch
	}
	return s, nil
}

// Triggered returns a channel closed when the sequence is triggered: the
// process is now a lame duck that still serves but fails readiness.
func (s *Sequence) Triggered() <-chan struct{} { return s.triggered }

// Draining returns a channel closed when the propagation delay is over and
// the first step is about to run.
func (s *Sequence) Draining() <-chan struct{} { return s.draining }

// Done returns a channel closed when the sequence run by [Sequence.Wait]
// has finished, just before Wait returns.
func (s *Sequence) Done() <-chan struct{} { return s.done }

// Context returns a context for background work (consumers, tickers) that
// is cancelled, with cause [ErrTriggered], when the sequence is triggered.
// Request handlers should not use it: they keep serving through the delay.
func (s *Sequence) Context() context.Context { return s.ctx }

// Add registers a step to run after the propagation delay, after every step
// added before it. Steps run one at a time; use [Parallel] for steps that
// may overlap. The step's context expires shortly before its time is up:
// the sequence's deadline, less [WithStepReserve] for each step added after
// it. A step that has not returned by then is abandoned (left running, its
// error wraps [ErrAbandoned]) and the next step starts; a step that panics
// is recovered and reported. Add may be called while steps run (the new
// step runs last); a step added after Done never runs, and Add logs it.
// Add panics if fn is nil.
func (s *Sequence) Add(name string, fn func(context.Context) error) {
	if fn == nil {
		panic("shutdown: Add(" + name + ") with a nil step")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		s.log.Error("shutdown: step added after the sequence finished; it will not run", "step", name)
		return
	default:
	}
	s.steps = append(s.steps, step{name, fn})
}

// Trigger starts the sequence from code, with the configured propagation
// delay, and returns at once; source names the cause in the timeline. If
// the sequence is already triggered, Trigger does nothing. It does not
// wait: the steps run in [Sequence.Wait].
func (s *Sequence) Trigger(source string) { s.trigger(source, s.cfg.delay) }

func (s *Sequence) trigger(source string, delay time.Duration) {
	s.triggerOnce.Do(func() {
		now := time.Now()
		s.trig = trigger{source, now, delay, now.Add(s.cfg.grace - s.cfg.margin)}
		s.mu.Lock()
		s.timeline.Source, s.timeline.Triggered = source, now
		s.timeline.Delay, s.timeline.Deadline = delay, s.trig.deadline
		s.mu.Unlock()
		s.cancel(ErrTriggered)
		close(s.triggered)
		s.log.Info("shutdown: triggered; lame duck: Triggered closed, readiness wired to it fails, serving until the delay is over",
			"source", source, "delay", delay, "budget", s.cfg.grace-s.cfg.margin)
	})
}

// Wait runs the sequence: it waits for a trigger, spends the propagation
// delay, runs the steps in order, and returns nil or the steps' errors
// joined, each naming its step. It returns by the deadline (trigger time +
// grace period − safety margin) even if a step ignores its context. Wait
// does not trigger the sequence; until a trigger it blocks. A second signal
// calls the exit function with the force exit code. Wait may be called
// more than once and from several goroutines: the sequence runs once and
// every call returns its result.
func (s *Sequence) Wait() error {
	s.runOnce.Do(func() {
		s.err = s.run()
		s.finish()
	})
	<-s.done
	return s.err
}

func (s *Sequence) run() error {
	if !s.awaitTrigger() || !s.sleepUntil(s.trig.at.Add(s.trig.delay)) {
		return ErrForcedExit
	}
	s.mu.Lock()
	s.timeline.DrainStarted = time.Now()
	s.mu.Unlock()
	close(s.draining)
	s.log.Info("shutdown: propagation delay over; draining", "steps", s.stepCount())
	return s.runSteps()
}

// awaitTrigger waits for a trigger while handling signals; false means
// forced exit.
func (s *Sequence) awaitTrigger() bool {
	for {
		select {
		case sig := <-s.signals:
			if s.onSignal(sig) {
				return false
			}
		case <-s.triggered:
			return true
		}
	}
}

// sleepUntil waits for t while handling signals; false means forced exit.
func (s *Sequence) sleepUntil(t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return true
		case sig := <-s.signals:
			if s.onSignal(sig) {
				return false
			}
		}
	}
}

// onSignal triggers on the first signal and forces exit on the second. It
// reports whether the exit was forced (and the exit function returned).
func (s *Sequence) onSignal(sig os.Signal) (forced bool) {
	s.signalsSeen++
	if s.signalsSeen == 1 {
		delay := s.cfg.delay
		if sig == os.Interrupt {
			delay = 0 // nobody routes traffic by Ctrl-C
		}
		s.trigger(signalName(sig), delay)
		return false
	}
	s.log.Error("shutdown: second signal; forcing exit", "signal", signalName(sig), "code", s.cfg.forceExitCode)
	s.cfg.exit(s.cfg.forceExitCode)
	return true
}

func (s *Sequence) finish() {
	s.mu.Lock()
	s.finishing = true
	s.mu.Unlock()
	s.awaitPrestops()
	now := time.Now()
	s.mu.Lock()
	s.timeline.Finished = now
	tl := s.timeline
	s.mu.Unlock()
	close(s.done)
	s.log.Info("shutdown: done", "total", tl.Total(), "budget_left", tl.BudgetLeft(), "err", s.err)
}

func (s *Sequence) stepCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.steps)
}

// Timeline returns what the sequence has done so far: complete once Done
// is closed. It is safe to call at any time.
func (s *Sequence) Timeline() Timeline {
	s.mu.Lock()
	defer s.mu.Unlock()
	tl := s.timeline
	tl.Steps = append([]StepRecord(nil), tl.Steps...)
	return tl
}
