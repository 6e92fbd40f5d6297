package shutdown

import "runtime/debug"

// WithObserver makes the sequence hand each [Step] to observe as it
// finishes or is abandoned, for metrics and traces. The moments between
// steps are [Sequence.Triggered], [Sequence.DrainStarted] and the
// [Timeline]. Forced drains show as step errors that wrap the drainers'
// ErrForced, abandoned steps as Step.Abandoned. Requests and streams in
// flight are the drainers' to report (httpdrain's and grpcdrain's
// InFlight). Defaults to no observer. It panics if observe is nil.
//
// Steps reach observe in the order they finish, one call at a time, from
// a goroutine of the sequence's own that runs while steps are waiting:
// observe need not be safe for concurrent use, and the sequence does not
// wait for it while it runs. Wait returns once observe has returned from
// the last step, or at the deadline, whichever comes first, so that a last
// export can finish before main returns. A slow observer therefore delays
// only the steps after it; one that never returns gets no further step,
// holds its goroutine, and makes Wait return at the deadline. observe may
// call the Sequence's methods: a Fail made before Wait's result is made is
// in it. A panic in observe is recovered and logged at ERROR with its
// stack, once per panic; it is not in Wait's result (the observer reports
// on the sequence, it is not part of it), and later steps are still
// delivered.
func WithObserver(observe func(Step)) Option {
	if observe == nil {
		panic("shutdown: WithObserver(nil): pass a function")
	}
	return func(c *config) { c.observe = observe }
}

// A queued step waits for the observer; delivered closes once observe
// has returned from it.
type queued struct {
	step      Step
	delivered chan struct{}
}

// emit queues st for the observer, if any, starting the goroutine that
// delivers steps when none is running, and returns at once. emit never
// calls observe itself, so it may be called anywhere, with locks held.
func (s *Sequence) emit(st Step) {
	if s.cfg.observe == nil {
		return
	}
	q := queued{st, make(chan struct{})}
	s.obsMu.Lock()
	s.obsQueue = append(s.obsQueue, q)
	s.obsLast = q.delivered
	idle := !s.obsBusy
	s.obsBusy = true
	s.obsMu.Unlock()
	if idle {
		go s.deliver()
	}
}

// deliver hands the queued steps to the observer, one at a time, and
// ends when the queue is empty.
func (s *Sequence) deliver() {
	emptied := false
	defer func() {
		if !emptied { // observe called runtime.Goexit (t.FailNow does): go on from a new goroutine
			go s.deliver()
		}
	}()
	for {
		s.obsMu.Lock()
		if len(s.obsQueue) == 0 {
			s.obsBusy = false
			s.obsMu.Unlock()
			emptied = true
			return
		}
		q := s.obsQueue[0]
		s.obsQueue = s.obsQueue[1:]
		s.obsMu.Unlock()
		s.observe(q)
	}
}

// observe calls the observer with q's step, recovering and logging a
// panic.
func (s *Sequence) observe(q queued) {
	defer close(q.delivered)
	defer func() {
		if r := recover(); r != nil {
			pe := &PanicError{Value: r, Stack: debug.Stack()}
			s.log.Error("shutdown: observer panicked", "step", q.step.Name, "err", pe, "stack", string(pe.Stack))
		}
	}()
	s.cfg.observe(q.step)
}

// awaitObserver waits until the observer has returned from the last step
// queued, at most until the deadline, the re-planned one after a late
// signal.
func (s *Sequence) awaitObserver() {
	s.obsMu.Lock()
	last := s.obsLast
	s.obsMu.Unlock()
	if last == nil {
		return
	}
	select {
	case <-last:
	case <-s.runCtx.Done(): // the deadline passed, or the exit was forced
		s.log.Warn("shutdown: observer still busy at the deadline; not waiting for it")
	}
}
