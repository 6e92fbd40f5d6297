package shutdown

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"
)

// Errors reported by a [Sequence]. Match them with errors.Is; match a
// panic with errors.As(err, new(*PanicError)).
var (
	// ErrTriggered is the cause (context.Cause) of the cancellation of the
	// context of a goroutine run with [Sequence.Go] without [StopAfter]:
	// the sequence was triggered.
	ErrTriggered = errors.New("shutdown: sequence triggered")
	// ErrAbandoned wraps the error of a step that had not returned by the
	// end of its time, or of an after-drain step that never started
	// because the deadline had passed. Its text has no package prefix: the
	// step's error that wraps it has ("shutdown: step "db": abandoned ...").
	ErrAbandoned = errors.New("abandoned at its deadline")
	// ErrServersDrained is the cause (context.Cause) of the cancellation
	// of the context of a goroutine run with [StopAfter]: the servers it
	// names have drained.
	ErrServersDrained = errors.New("shutdown: the servers feeding this worker have drained")
	// ErrForcedExit is in Wait's result when a second signal, or the
	// deadline passing before the sequence finished, forced the exit (with
	// code 1) and the process is still running, as in tests run with
	// package shutdowntest.
	ErrForcedExit = errors.New("shutdown: exit forced")
)

// A Sequence is a process's termination sequence: its lifecycle signals,
// the servers and goroutines that run under it, the after-drain steps, and
// the budget they share. Create one with [New] at the top of main, one per
// process: each subscribes to the process's signals. The zero value is not
// usable. Its methods are safe for concurrent use; none but Wait blocks
// beyond a lock held briefly.
type Sequence struct {
	cfg     config
	log     *slog.Logger
	signals <-chan os.Signal

	triggered, drainStarted, done chan struct{}
	hooksDone                     chan struct{} // closed when the before-drain hooks are over
	late                          chan struct{} // closed when a signal came while /prestop waited
	lateAt                        time.Time     // when that signal came; written before late closes
	signalSeen                    bool          // owned by watch

	// The run's one cancellation, as errgroup.WithContext and
	// signal.NotifyContext do it: runCtx is cancelled at the deadline
	// (cause errDeadline) or when the exit is forced (cause ErrForcedExit,
	// through forced, its parent). Everything that waits for work the
	// sequence does not control waits on it.
	forced   context.Context
	forceRun context.CancelCauseFunc
	runCtx   context.Context
	stopRun  context.CancelCauseFunc
	// deadlineTimer cancels runCtx at the deadline; set at the trigger,
	// reset by watch at a late signal.
	deadlineTimer *time.Timer

	ctx    context.Context // the context of workers run without StopAfter
	cancel context.CancelCauseFunc

	triggerOnce sync.Once
	trig        trigger // written once in triggerOnce; read after <-triggered

	mu         sync.Mutex
	waiting    bool      // Wait was called: start-up is over
	tracked    bool      // a readiness endpoint reports through TrackReadiness
	probed     bool      // it answered before the trigger
	advertised bool      // it answered "ready" before the trigger
	decided    bool      // the trigger's delay is decided
	hooks      []*member // from BeforeDrain
	hooksRead  bool      // the hooks have started: BeforeDrain refuses
	hookErrs   []error   // the hooks' errors, written before hooksDone closes
	members    []*member // from Serve and Go
	steps      []step    // after-drain steps, from AfterDrain
	drainsRead bool      // the drain phase has taken its members: Serve and Go refuse
	stepsRead  bool      // the after-drain phase has taken its last step: AfterDrain refuses
	failures   []error   // what failed, joined into Wait's result
	finished   bool      // Wait's result is made and done closed: failures is no longer read
	timeline   Timeline
	finishing  bool           // no /prestop answer may start: Wait is returning
	prestops   sync.WaitGroup // /prestop answers under way; Add under mu while !finishing
	admins     []*admin       // from ServeAdmin, closed last; appended under mu while !finishing

	obsMu    sync.Mutex    // guards obsQueue, obsLast and obsBusy; never held while observe runs
	obsQueue []queued      // steps waiting for the observer
	obsLast  chan struct{} // closed once observe has returned from the last step queued
	obsBusy  bool          // a goroutine is delivering obsQueue

	runOnce sync.Once
	err     error // written once under mu before done closes; read after <-done
}

type trigger struct {
	source string
	kind   triggerKind
	at     time.Time
	delay  time.Duration
}

// triggerKind is what triggered the sequence.
type triggerKind int

const (
	byCode      triggerKind = iota // Trigger
	byError                        // Fail, a server or worker that failed, ServeAdmin's listener
	bySignal                       // a signal other than SIGINT
	byInterrupt                    // SIGINT
	byPrestop                      // a /prestop request
)

type step struct {
	name string
	fn   func(context.Context) error
}

// New returns a Sequence configured by opts, or nil and an error naming
// every problem at once and how to fix it: a grace period of 0 or less, a
// propagation delay and safety margin that do not fit in it, a variable
// read by [FromEnv] that does not parse. New does not block, and triggers
// nothing.
//
// New subscribes to the configured signals at once, and it starts the one goroutine that handles them, so
// that a signal arriving at any moment, during a slow start-up before
// [Sequence.Wait] too, triggers the sequence at once: the deadline counts
// from the signal. The goroutine ends when the sequence is done. The
// subscription is never undone, so that a SIGTERM arriving after Wait
// returned, while main returns (the kubelet's, sent when a /prestop hook
// returns, may come after a quick drain), does not kill the process with a
// non-zero status.
func New(opts ...Option) (*Sequence, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	for _, lookup := range cfg.env {
		cfg.readEnv(lookup)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Sequence{
		cfg:          cfg,
		log:          cfg.logger,
		signals:      cfg.source,
		triggered:    make(chan struct{}),
		drainStarted: make(chan struct{}),
		done:         make(chan struct{}),
		hooksDone:    make(chan struct{}),
		late:         make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	s.forced, s.forceRun = context.WithCancelCause(context.Background())
	s.runCtx, s.stopRun = context.WithCancelCause(s.forced)
	if cfg.source == nil && len(cfg.signals) > 0 {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, cfg.signals...)
		s.signals = ch
	}
	go s.watch()
	return s, nil
}

// Triggered returns a channel closed at the trigger, once: the process is
// now a lame duck that still serves but fails readiness. It never closes
// if nothing triggers the sequence. Packages readiness, httpdrain and
// grpcdrain take the Sequence itself and follow this channel.
func (s *Sequence) Triggered() <-chan struct{} { return s.triggered }

// DrainStarted returns a channel closed, once, when the propagation delay
// and the before-drain hooks are over and the drains start. It closes only
// while [Sequence.Wait] runs: never if Wait is not called, or if the exit
// is forced before the drains.
func (s *Sequence) DrainStarted() <-chan struct{} { return s.drainStarted }

// Terminating reports whether the sequence was triggered by a request to
// terminate the process: a signal, or a /prestop request
// ([Sequence.PrestopHandler]), as when Kubernetes deletes the pod. It is
// false before the trigger, and after a trigger by a failure or by
// [Sequence.Trigger], when the process leaves on its own; once Triggered
// is closed its answer never changes. Package readiness reads it to keep
// the kubelet's probe passing while a deleted pod still serves.
func (s *Sequence) Terminating() bool {
	if !isClosed(s.triggered) {
		return false
	}
	return s.trig.kind == bySignal || s.trig.kind == byInterrupt || s.trig.kind == byPrestop
}

// TrackReadiness tells the sequence that a readiness endpoint reports the
// process's readiness, and returns the function that endpoint calls before
// each answer, with whether the answer would say "ready". Package
// readiness calls it when a Probe's handlers are made; other endpoints (a
// gRPC health service, a custom handler) may too.
//
// The sequence uses what it learns to skip the propagation delay when no
// load balancer can have been told that the process is ready, that is when
// no answer said "ready" before the trigger:
//
//   - a failure (Fail, a Serve or Go that fails) then skips the delay,
//     before or after Wait;
//   - a signal, /prestop or Trigger skips it if answers were given but none
//     said ready (a SIGTERM during start-up while the probes fail). If no
//     answer was given at all, the delay is spent: a balancer that does
//     not probe may already route to the process.
//
// Without TrackReadiness the rule is that a failure before [Sequence.Wait]
// skips the delay. SIGINT always skips it.
//
// report returns whether the answer may say "ready": always before the
// trigger; after it, only if an answer said so before the trigger. An
// endpoint must answer "not ready" when it returns false. report is safe
// for concurrent use. TrackReadiness may be called any number of times;
// every call returns an equivalent function.
func (s *Sequence) TrackReadiness() (report func(ready bool) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tracked = true
	return s.reportReadiness
}

func (s *Sequence) reportReadiness(ready bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.decided {
		s.probed = true
		s.advertised = s.advertised || ready
		return ready
	}
	return ready && s.advertised
}

// Serve runs serve in a goroutine under the sequence, and makes drain one
// of the drains that start together when the propagation delay is over
// (see [Sequence.Wait]). serve is a server's blocking serve call, such as
// func() error { return srv.Serve(ln) }; drain is its drain step, such as
// an httpdrain or grpcdrain Drain.
//
// If serve returns before the drain has started, whatever it returns, the
// server has failed: the sequence is triggered with that error as its
// cause, Wait returns it, and the propagation delay is skipped if no load
// balancer can have been told the process is ready (see [Sequence.Fail]).
// Once the drains have started, serve is expected to return, and what it
// returns is the server stopping, not a failure: net/http's
// http.ErrServerClosed, grpc's grpc.ErrServerStopped (a serve call that
// began only after a drain that came early, on a signal during start-up),
// a closed listener's error. It is logged, not reported by Wait; how the
// server drained is the drain's to report. Wait waits for both drain and
// serve to return, within the drains' time. A panic in serve is recovered
// and reported as a [PanicError] whenever it happens: before the drain it
// triggers the sequence like a failure, and the drains and after-drain
// steps run.
//
// Serve panics if serve or drain is nil. Called once the drains have
// started, it runs nothing and logs an error.
func (s *Sequence) Serve(name string, serve func() error, drain func(context.Context) error) {
	if serve == nil || drain == nil {
		panic(fmt.Sprintf("shutdown: Serve(%q) with a nil function: pass the server's serve call and its drain step", name))
	}
	s.start(&member{name: name, drain: drain, returned: make(chan struct{}), drained: make(chan struct{})}, func() error {
		err := call(context.Background(), func(context.Context) error { return serve() })
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		return err
	})
}

// Go runs fn in a goroutine under the sequence: a background worker such
// as a queue consumer, a ticker or a flusher. fn's context is cancelled,
// with cause [ErrTriggered], at the trigger: a worker that no server feeds
// stops as soon as the process is leaving and gets the most time to
// finish. Start-up work (migrations, cache warm-up) run with Go gives up
// early the same way.
//
// A worker fed by servers, such as a consumer of a queue that request
// handlers fill, must outlive them: handlers keep accepting work through
// the propagation delay and the drains. Give it [StopAfter] with the
// names of those servers, and its context is cancelled, with cause
// [ErrServersDrained], only once their drains and serve calls have
// returned: after the last job they accepted was queued.
//
// If fn returns an error before the trigger, the sequence is triggered
// with that error as its cause and Wait returns it; the propagation delay
// is skipped as [Sequence.Fail] says. fn may return nil at any
// time: a worker whose job is done is not a failure. After the trigger,
// Wait waits for fn to return, within the drains' time and before the
// after-drain steps, and reports its error unless it is its context's
// cancellation. A panic in fn is recovered and reported as a
// [PanicError].
//
// Go panics if fn is nil. Called once the drains have started, it runs
// nothing and logs an error.
func (s *Sequence) Go(name string, fn func(ctx context.Context) error, opts ...GoOption) {
	if fn == nil {
		panic(fmt.Sprintf("shutdown: Go(%q) with a nil function", name))
	}
	var o goOptions
	for _, opt := range opts {
		opt(&o)
	}
	m := &member{name: name, worker: true, returned: make(chan struct{}), stopAfter: o.stopAfter}
	ctx := s.ctx
	if len(o.stopAfter) > 0 {
		ctx, m.stop = context.WithCancelCause(context.Background())
	}
	s.start(m, func() error {
		err := call(ctx, fn)
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			err = nil // the worker stopped as asked
		}
		return err
	})
}

// AfterDrain adds an after-drain step: it runs once every drain has
// finished, after the after-drain steps added before it, one at a time.
// After-drain steps are for what the drained servers used: database pools,
// files, telemetry flushers. Steps with no order between them can run
// together inside one step (errgroup does that).
//
// The step's context expires shortly before its time is up: the
// sequence's deadline, less its share of [WithAfterDrainReserve] for each
// after-drain step after it. A step that has not returned by then is
// abandoned (left running, its error wraps [ErrAbandoned]) and the next
// one starts; a step that panics is reported as a [PanicError]. AfterDrain
// may be called while after-drain steps run (the new step runs last); a
// step added after the last one has run never runs, and AfterDrain logs
// it. AfterDrain does not block. It panics if fn is nil.
func (s *Sequence) AfterDrain(name string, fn func(context.Context) error) {
	if fn == nil {
		panic(fmt.Sprintf("shutdown: AfterDrain(%q) with a nil step", name))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stepsRead {
		s.log.Error("shutdown: after-drain step added too late; it will not run", "step", name)
		return
	}
	s.steps = append(s.steps, step{name, fn})
}

// BeforeDrain adds a before-drain hook: work that starts at the trigger
// and must finish before the servers drain, such as deregistering from a
// service registry (Consul, etcd) or releasing a leader lease so that a
// standby takes over early. The hooks run together, from the trigger. Their
// time is the propagation delay applied; when that is shorter than 1 s (a
// delay skipped for SIGINT or a failure during start-up, a delay of 0), it
// is 1 s instead, or half the time from the trigger to the deadline if
// that is shorter still, so that hooks get time with no delay too. Their
// context expires shortly before that time is up. The drains start once the delay is over and every hook
// has returned or used up its time; a hook still running then is
// abandoned (left running, its error wraps [ErrAbandoned]), and a hook
// that returned in time never is. A late signal (see the package doc)
// ends the hooks' time at once. Hooks are recorded in the timeline in
// phase [PhaseBeforeDrain], and their errors are in Wait's result; they
// do not stop the drains.
//
// BeforeDrain does not block. It panics if fn is nil. Called once the
// sequence is triggered, it runs nothing and logs an error.
func (s *Sequence) BeforeDrain(name string, fn func(context.Context) error) {
	if fn == nil {
		panic(fmt.Sprintf("shutdown: BeforeDrain(%q) with a nil function", name))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hooksRead {
		s.log.Error("shutdown: before-drain hook added after the trigger; it will not run", "step", name)
		return
	}
	returned := make(chan struct{})
	close(returned)
	s.hooks = append(s.hooks, &member{name: name, drain: fn, returned: returned})
}

// Trigger starts the sequence from code, with the configured propagation
// delay (skipped if a readiness endpoint reports to the sequence, answered
// probes and never said "ready", see [Sequence.TrackReadiness]), and
// returns at once;
// source names the cause in the timeline. If the sequence is already
// triggered, Trigger does nothing. It does not wait: the drains and
// after-drain steps run in [Sequence.Wait].
func (s *Sequence) Trigger(source string) { s.trigger(source, byCode, nil) }

// Fail records err as a failure and triggers the sequence with it as its
// cause (source "error", logged once with err): Wait returns an error
// wrapping err, so that main exits non-zero.
// The propagation delay is skipped if no load balancer can have been told
// the process is ready: a readiness endpoint reports to the sequence and
// none of its answers said so yet (see [Sequence.TrackReadiness]), or,
// with no such endpoint, Wait has not yet been called. Servers run with
// [Sequence.Serve] and goroutines run with [Sequence.Go] call it for
// themselves. Fail with a nil err does nothing.
//
// Every Fail that returns before Wait's result is made is in it; a Fail
// made once the sequence has finished is only logged. Fail does not
// block, and may be called from anywhere: a step, a hook, an observer.
func (s *Sequence) Fail(err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	late := s.finished
	if !late {
		s.failures = append(s.failures, err)
	}
	s.mu.Unlock()
	if late {
		s.log.Error("shutdown: failed after the sequence finished; not in Wait's result", errAttrs(err)...)
		return
	}
	if !s.trigger("error", byError, err) { // the trigger logs err
		s.log.Error("shutdown: failed", errAttrs(err)...)
	}
}

// delayLocked returns the propagation delay for a trigger of kind: none
// for SIGINT, since nobody routes traffic by Ctrl-C, and none when no load
// balancer can have been told that the process is ready (see
// TrackReadiness).
func (s *Sequence) delayLocked(kind triggerKind) time.Duration {
	switch {
	case kind == byInterrupt:
		return 0
	case s.advertised:
		return s.cfg.delay
	case kind == byError && (s.tracked || !s.waiting):
		return 0 // failed before anything said it was ready
	case s.probed:
		return 0 // probed, and never said it was ready
	}
	return s.cfg.delay
}

// trigger starts the sequence unless it has started, and reports whether
// it did. It logs the trigger in one line, at ERROR with cause for an
// error.
func (s *Sequence) trigger(source string, kind triggerKind, cause error) bool {
	started := false
	s.triggerOnce.Do(func() {
		started = true
		now := time.Now()
		s.mu.Lock()
		s.decided = true
		delay := s.delayLocked(kind)
		s.trig = trigger{source, kind, now, delay}
		s.timeline.Source, s.timeline.TriggeredAt = source, now
		deadline := s.budget("", time.Time{}, 0, 0).deadline
		s.timeline.Delay, s.timeline.Deadline = delay, deadline
		s.deadlineTimer = time.AfterFunc(time.Until(deadline), func() { s.stopRun(errDeadline) })
		s.hooksRead = true
		hooks := s.hooks
		s.mu.Unlock()
		s.cancel(ErrTriggered)
		close(s.triggered)
		attrs := []any{"source", source, "delay", delay.String(), "budget", (s.cfg.grace - s.cfg.margin).String()}
		if cause != nil {
			s.log.Error("shutdown: triggered", append(attrs, errAttrs(cause)...)...)
		} else {
			s.log.Info("shutdown: triggered", attrs...)
		}
		go s.runHooks(hooks)
	})
	return started
}

// Timeline returns a copy of what the sequence has done so far: zero
// before the trigger, complete once Wait has returned. It does not block
// and is safe to call at any time, from a step or an observer too.
func (s *Sequence) Timeline() Timeline {
	s.mu.Lock()
	defer s.mu.Unlock()
	tl := s.timeline
	tl.Steps = append([]Step(nil), tl.Steps...)
	return tl
}
