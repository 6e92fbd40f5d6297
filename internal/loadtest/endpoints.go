package loadtest

import "time"

// endpoints is a balancer's view of its endpoints: the order they were
// first seen, and each one's readiness as believed lag after it was
// reported. It is not safe for concurrent use.
type endpoints struct {
	lag  time.Duration
	list []*endpoint
	next int // round robin
}

type endpoint struct {
	addr    string
	ready   bool     // believed
	pending []change // reported, not yet believed, oldest first
}

type change struct {
	at    time.Time // when it is believed
	ready bool
}

// set records that addr was reported ready or not now; it is believed lag
// later. An addr not seen before joins the end of the round robin at
// once, in the state reported.
func (e *endpoints) set(addr string, ready bool) {
	ep := e.find(addr)
	if ep == nil {
		ep = &endpoint{addr: addr, ready: ready}
		e.list = append(e.list, ep)
		return
	}
	last := ep.ready
	if n := len(ep.pending); n > 0 {
		last = ep.pending[n-1].ready
	}
	if ready != last {
		ep.pending = append(ep.pending, change{at: time.Now().Add(e.lag), ready: ready})
	}
}

// inRotation reports whether addr is believed ready now.
func (e *endpoints) inRotation(addr string) bool {
	ep := e.find(addr)
	return ep != nil && ep.believe(time.Now())
}

// pick returns the next endpoint believed ready now, round robin, or ""
// when none is.
func (e *endpoints) pick() string {
	now := time.Now()
	for range e.list {
		ep := e.list[e.next%len(e.list)]
		e.next++
		if ep.believe(now) {
			return ep.addr
		}
	}
	return ""
}

func (e *endpoints) find(addr string) *endpoint {
	for _, ep := range e.list {
		if ep.addr == addr {
			return ep
		}
	}
	return nil
}

// believe applies the changes due by now and returns the belief.
func (ep *endpoint) believe(now time.Time) bool {
	for len(ep.pending) > 0 && !ep.pending[0].at.After(now) {
		ep.ready = ep.pending[0].ready
		ep.pending = ep.pending[1:]
	}
	return ep.ready
}
