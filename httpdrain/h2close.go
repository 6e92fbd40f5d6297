package httpdrain

import (
	"net"
	"net/http"
	"time"
)

// goAwayQuiet is how long a connection must be seen with no stream open
// and nothing sent or received, after Shutdown's GOAWAY, before the drain
// ends it. The HTTP/2 server reports a connection idle when its last
// stream closes, just before it flushes that stream's last frames from its
// buffer (h2_bundle.go, closeStream, then scheduleFrameWrite); the wait
// covers that flush, which takes microseconds unless the server's
// goroutines are held up for this long.
const goAwayQuiet = 25 * time.Millisecond

// goAwayWatch ends, during Shutdown, the HTTP/2 connections that have
// nothing left to do after their GOAWAY, instead of leaving them to the
// server: net/http keeps such a connection open for a second after the
// GOAWAY when its last stream is over (h2_bundle.go, goAwayTimeout, kept
// from golang/go#18701 so that the client reads the GOAWAY before the
// close), and Shutdown waits for it. A Go client closes a connection
// whose GOAWAY came with streams open when the last one ends, but not one
// that was idle when the GOAWAY came; other clients may keep either. The
// same holds for cleartext HTTP/2 (h2c).
//
// The drain ends such a connection by shutting down its write side: the
// kernel sends a FIN behind the bytes already sent, and keeps reading, so
// the client gets every frame, the GOAWAY included, then the end of the
// connection, and no reset: a request it sent in that instant is one the
// GOAWAY already refused, and arrives at a socket that still reads. The
// client then closes the connection, and so does the server. It needs the
// kernel's view of the socket (Linux only): elsewhere connections are
// left to the server.
type goAwayWatch struct {
	t     *conns
	start time.Time
	seen  map[net.Conn]*goAwayLook
}

// goAwayLook is what the drain has seen of a connection since Shutdown.
type goAwayLook struct {
	before wireState // when Shutdown was called
	last   wireState // at the last look
	idleAt time.Time // when it was first seen idle with last's counts; zero if not idle
	done   bool      // its write side is shut
}

// watchGoAway notes what every connection has sent, before Shutdown sends
// its GOAWAYs, and returns the watch that closeDone uses.
func (t *conns) watchGoAway() *goAwayWatch {
	w := &goAwayWatch{t: t, start: time.Now(), seen: make(map[net.Conn]*goAwayLook)}
	t.live.Range(func(k, _ any) bool {
		c := k.(net.Conn)
		if s, ok := wire(c); ok {
			w.seen[c] = &goAwayLook{before: s, last: s}
		}
		return true
	})
	return w
}

// closeDone shuts the write side of the connections that have been quiet
// for goAwayQuiet since their GOAWAY went out, as the type doc says. It
// never blocks.
func (w *goAwayWatch) closeDone() {
	now := time.Now()
	w.t.live.Range(func(k, v any) bool {
		c := k.(net.Conn)
		l := w.seen[c]
		if l == nil || l.done {
			// Accepted after Shutdown was called: it never serves.
			return true
		}
		if http.ConnState(v.(*conn).state.Load()) != http.StateIdle {
			l.idleAt = time.Time{}
			return true
		}
		s, ok := wire(c)
		if !ok {
			return true
		}
		if l.idleAt.IsZero() || s.sent != l.last.sent || s.received != l.last.received {
			l.last, l.idleAt = s, now
		}
		// Sent something since the GOAWAY was due (the GOAWAY itself if
		// nothing else), and quiet since. Bytes not yet acknowledged do
		// not matter: the FIN follows them.
		if s.sent > l.before.sent && !s.unread &&
			now.Sub(l.idleAt) >= goAwayQuiet && now.Sub(w.start) >= goAwayQuiet {
			l.done = closeWrite(c)
		}
		return true
	})
}

// wireState is the kernel's count of a connection's traffic.
type wireState struct {
	sent     uint64 // bytes the server wrote: acknowledged or queued
	received uint64 // bytes received from the peer
	unread   bool   // bytes received that the server has not read
}

// closeWrite shuts down the sending side of c's transport connection, and
// reports whether it could.
func closeWrite(c net.Conn) bool {
	cw, ok := netConn(c).(interface{ CloseWrite() error })
	return ok && cw.CloseWrite() == nil
}
