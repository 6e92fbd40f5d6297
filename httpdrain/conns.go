package httpdrain

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
)

// conns follows the server's connections through its ConnState hook, which
// is the only place net/http hands them out: the server keeps its own set
// private, and Shutdown forgets hijacked connections (golang/go#17721).
// The zero value tracks nothing yet and is ready to use.
type conns struct {
	live     sync.Map // net.Conn -> *atomic.Int32 holding its http.ConnState
	mu       sync.Mutex
	hijacked map[net.Conn]struct{}
	pruneAt  int // size of hijacked at which to forget the closed ones
}

// minPruneAt is the smallest number of hijacked connections worth a look
// for those their owners closed.
const minPruneAt = 64

// track records that c moved to state s. It is called by net/http for every
// request (StateActive, StateIdle), so those cases only load and store.
func (t *conns) track(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		st := new(atomic.Int32)
		st.Store(int32(s))
		t.live.Store(c, st)
	case http.StateActive, http.StateIdle:
		if st, ok := t.live.Load(c); ok {
			st.(*atomic.Int32).Store(int32(s))
		}
	case http.StateHijacked:
		t.live.Delete(c)
		t.mu.Lock()
		if t.hijacked == nil {
			t.hijacked = make(map[net.Conn]struct{})
		}
		t.hijacked[c] = struct{}{}
		if len(t.hijacked) >= t.pruneAt {
			// Owners close without telling: forget the closed ones, at
			// a cost amortised over the hijacks since the last look.
			t.pruneLocked()
			t.pruneAt = max(minPruneAt, 2*len(t.hijacked))
		}
		t.mu.Unlock()
	case http.StateClosed:
		t.live.Delete(c)
	}
}

// closeQuiet closes the connections in StateNew or StateIdle whose peer has
// sent nothing the server has not answered (see quiet), and reports how many
// such connections it had to leave open because the peer had sent something.
// With newOnly it leaves idle connections alone.
func (t *conns) closeQuiet(newOnly bool) (busy int) {
	t.live.Range(func(k, v any) bool {
		s := http.ConnState(v.(*atomic.Int32).Load())
		if s != http.StateNew && (newOnly || s != http.StateIdle) {
			return true
		}
		c := k.(net.Conn)
		if !quiet(c, s) {
			busy++
			return true
		}
		// Closing makes the server's read fail; its goroutine then
		// reports StateClosed and forgets the connection.
		c.Close()
		t.live.Delete(c)
		return true
	})
	return busy
}

// openHijacked returns how many hijacked connections are still open,
// forgetting those their owners closed.
func (t *conns) openHijacked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked()
	return len(t.hijacked)
}

// pruneLocked forgets the hijacked connections their owners closed.
func (t *conns) pruneLocked() {
	for c := range t.hijacked {
		if isClosed(c) {
			delete(t.hijacked, c)
		}
	}
}

// closeHijacked closes the hijacked connections still open and forgets them.
func (t *conns) closeHijacked() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.hijacked {
		c.Close()
		delete(t.hijacked, c)
	}
}

// isClosed reports whether c has been closed, without touching its
// deadlines or data: a closed socket refuses RawConn.Control. A connection
// that cannot be inspected counts as open, so it is closed at the deadline.
func isClosed(c net.Conn) bool {
	sc, ok := netConn(c).(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	return rc.Control(func(uintptr) {}) != nil
}

// netConn returns the transport connection under a TLS connection.
func netConn(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}
