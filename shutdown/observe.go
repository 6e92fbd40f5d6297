package shutdown

import (
	"runtime/debug"
	"time"
)

// An Event is something a [Sequence] did, as reported to the function
// given to [WithObserver]: for metrics and traces.
type Event struct {
	Kind   EventKind
	At     time.Time
	Source string     // EventTriggered: what triggered the sequence
	Step   StepRecord // EventStep: what a hook, drain, goroutine or close step did
	Err    error      // EventDone: what Wait returns
}

// EventKind says what an [Event] reports.
type EventKind int

// The kinds of [Event], in the order a sequence reports them.
const (
	EventTriggered EventKind = iota + 1 // the trigger: Triggered closed
	EventDraining                       // the drains start: Draining closed
	EventStep                           // a pre-drain hook, drain, goroutine or close step finished or was abandoned
	EventDone                           // the sequence finished: Done is closed, Wait is about to return
)

// String names the kind as metrics label it: "triggered", "draining",
// "step" or "done".
func (k EventKind) String() string {
	switch k {
	case EventTriggered:
		return "triggered"
	case EventDraining:
		return "draining"
	case EventStep:
		return "step"
	case EventDone:
		return "done"
	}
	return "unknown"
}

// WithObserver makes the sequence report every [Event] to observe, for
// metrics and traces. Forced drains show as step errors that wrap the
// drainers' ErrForced, abandoned ones as StepRecord.Abandoned. Requests
// and streams in flight are the drainers' to report (httpdrain's and
// grpcdrain's InFlight). Defaults to no observer. It panics if observe is
// nil.
//
// Events reach observe in the order the sequence emits them, one call at
// a time, from a goroutine of the sequence's own that runs while events
// are waiting: observe need not be safe for concurrent use, and the
// sequence never waits for it, with one exception: Wait returns once
// observe has returned from [EventDone], or at the deadline, whichever
// comes first, so that a last export can finish before main returns. A
// slow observer therefore delays only the events after it; one that never
// returns gets no further event, holds its goroutine, and makes Wait
// return at the deadline. observe may call the Sequence's methods: a Fail
// made before Done closes is in Wait's result. A panic in observe is
// recovered and logged at ERROR with its stack, once per panic; it is not
// in Wait's result (the observer reports on the sequence, it is not part
// of it), and later events are still delivered.
func WithObserver(observe func(Event)) Option {
	if observe == nil {
		panic("shutdown: WithObserver(nil): pass a function")
	}
	return func(c *config) { c.observe = observe }
}

// A queued event waits for the observer; delivered closes once observe
// has returned from it.
type queued struct {
	event     Event
	delivered chan struct{}
}

// emit queues e for the observer, if any, starting the goroutine that
// delivers events when none is running, and returns at once. The channel
// returned, nil without an observer, closes once observe has returned
// from e. emit never calls observe itself, so it may be called anywhere:
// inside the trigger, from the signal goroutine, with locks held.
func (s *Sequence) emit(e Event) <-chan struct{} {
	if s.cfg.observe == nil {
		return nil
	}
	q := queued{e, make(chan struct{})}
	s.obsMu.Lock()
	s.obsQueue = append(s.obsQueue, q)
	idle := !s.obsBusy
	s.obsBusy = true
	s.obsMu.Unlock()
	if idle {
		go s.deliver()
	}
	return q.delivered
}

// deliver hands the queued events to the observer, one at a time, and
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

// observe calls the observer with q's event, recovering and logging a
// panic.
func (s *Sequence) observe(q queued) {
	defer close(q.delivered)
	defer func() {
		if r := recover(); r != nil {
			pe := &PanicError{Value: r, Stack: debug.Stack()}
			s.log.Error("shutdown: observer panicked", "event", q.event.Kind.String(), "err", pe, "stack", string(pe.Stack))
		}
	}()
	s.cfg.observe(q.event)
}

// awaitObserver waits for delivered, at most until the deadline, the
// re-planned one after a late signal.
func (s *Sequence) awaitObserver(delivered <-chan struct{}) {
	if delivered == nil {
		return
	}
	timer := time.NewTimer(time.Until(s.deadline()))
	defer timer.Stop()
	select {
	case <-delivered:
	case <-timer.C:
		s.log.Warn("shutdown: observer still busy at the deadline; not waiting for it")
	}
}
