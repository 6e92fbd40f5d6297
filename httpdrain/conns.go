package httpdrain

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// conns follows the server's connections through its ConnState hook, which
// is the only place net/http hands them out: the server keeps its own set
// private, and Shutdown forgets hijacked connections (golang/go#17721).
// The zero value tracks nothing yet and is ready to use.
type conns struct {
	live     sync.Map // net.Conn -> *conn
	mu       sync.Mutex
	hijacked map[net.Conn]struct{}
	pruneAt  int // size of hijacked at which to forget the closed ones
}

// minPruneAt is the smallest number of hijacked connections worth a look
// for those their owners closed.
const minPruneAt = 64

// conn is what conns knows of a live connection.
type conn struct {
	state atomic.Int32 // its http.ConnState
	// h2 is set when the connection turns out to be HTTP/2 over TLS. Its
	// ConnState reports come from the HTTP/2 server (h2_bundle.go,
	// setConnState), and Shutdown's GOAWAY closes it once its streams are
	// done: the drain leaves it alone rather than close it under a stream
	// the client may be opening.
	h2 atomic.Bool
	// h2At is when it did (UnixNano); h2Streamed is set at its first
	// stream: until then, and for firstRequestGrace at most, the drain
	// waits before Shutdown's GOAWAY, which would refuse the stream the
	// client is opening.
	h2At       atomic.Int64
	h2Streamed atomic.Bool
	// For a TLS connection in StateNew, once the drain has looked at it:
	// whether its handshake is over, when the drain saw it end, and how
	// many bytes the peer had sent by then (see watchHandshake).
	hsWatched, hsDone atomic.Bool
	hsDoneAt          atomic.Int64 // UnixNano
	hsReceived        atomic.Uint64
}

// firstRequestGrace is how long after its TLS handshake a connection is
// given to send its first request before the drain takes it for unused. A
// client that dialed for a request writes it right behind the handshake's
// last message, but the drain may look in between; a client that
// connected ahead of need (browsers do) may send nothing for long. The
// same holds for the first stream of an HTTP/2 connection.
const firstRequestGrace = 100 * time.Millisecond

// track records that c moved to state s. It is called by net/http for every
// request (StateActive, StateIdle), so those cases only load and store.
func (t *conns) track(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		e := new(conn)
		e.state.Store(int32(s))
		t.live.Store(c, e)
	case http.StateActive, http.StateIdle:
		if v, ok := t.live.Load(c); ok {
			e := v.(*conn)
			switch prev := e.state.Swap(int32(s)); {
			case prev == int32(http.StateNew) && isH2(c):
				// The HTTP/2 server reports StateActive, then StateIdle,
				// once it has read the client's preface (h2_bundle.go,
				// serve), and StateActive again at the first stream.
				e.h2At.Store(time.Now().UnixNano())
				e.h2.Store(true)
			case s == http.StateActive && e.h2.Load() && !e.h2Streamed.Load():
				e.h2Streamed.Store(true)
			}
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

// isH2 reports whether c, a connection that has left StateNew, speaks
// HTTP/2 over TLS. Its handshake is over by then, so ConnectionState, which
// holds the handshake's lock, does not block (crypto/tls, conn.go).
func isH2(c net.Conn) bool {
	tc, ok := c.(*tls.Conn)
	return ok && tc.ConnectionState().NegotiatedProtocol == "h2"
}

// closeQuiet closes the HTTP/1 connections in StateNew or StateIdle whose
// peer has sent nothing the server has not answered (see verdict), and
// reports how many such connections it had to leave open because the peer
// had sent something. HTTP/2 connections over TLS wait for Shutdown's
// GOAWAY; it counts those that have not had their first stream yet as
// busy, for firstRequestGrace at most. It returns once the connections it
// closes are closed.
func (t *conns) closeQuiet() (busy int) {
	var b closeBatch
	t.live.Range(func(k, v any) bool {
		e := v.(*conn)
		if e.h2.Load() {
			if !e.h2Streamed.Load() && time.Since(time.Unix(0, e.h2At.Load())) < firstRequestGrace {
				busy++
			}
			return true
		}
		s := http.ConnState(e.state.Load())
		if s != http.StateNew && s != http.StateIdle {
			return true
		}
		c := k.(net.Conn)
		if e.verdict(c, s) == wait {
			busy++
			return true
		}
		b.close(t, c)
		return true
	})
	b.wait()
	return busy
}

// closers is how many goroutines a closeBatch closes connections with.
// net.Conn.Close waits until the server's goroutine for the connection
// has left its read and released the descriptor (internal/poll,
// FD.Close): closing connection after connection from one goroutine
// waits for each of those in turn, and leaves other cores idle.
const closers = 8

// closeBatchMin is the number of connections from which a closeBatch
// closes with its goroutines: fewer are closed by the caller, at once.
const closeBatchMin = 64

// closeBatch closes connections in the order given, several at a time once
// there are many. Its zero value is ready to use.
type closeBatch struct {
	n     int
	queue chan net.Conn // nil until closeBatchMin connections
	wg    sync.WaitGroup
}

// close closes c, a connection of t, now or soon: wait returns once it is
// closed.
func (b *closeBatch) close(t *conns, c net.Conn) {
	b.n++
	if b.n < closeBatchMin {
		t.close(c)
		return
	}
	if b.queue == nil {
		b.queue = make(chan net.Conn)
		for range closers {
			b.wg.Go(func() {
				for c := range b.queue {
					t.close(c)
				}
			})
		}
	}
	b.queue <- c
}

// wait returns once every connection given to close is closed.
func (b *closeBatch) wait() {
	if b.queue != nil {
		close(b.queue)
		b.wg.Wait()
	}
}

// closeNew closes the connections in StateNew, HTTP/2 ones aside (they
// have left it). It is called once the server is shutting down: net/http
// would not serve a request it reads from them then (server.go,
// conn.serve), and would wait 5s before it closed them itself
// (golang/go#22682).
func (t *conns) closeNew() {
	t.live.Range(func(k, v any) bool {
		e := v.(*conn)
		if !e.h2.Load() && http.ConnState(e.state.Load()) == http.StateNew {
			t.close(k.(net.Conn))
		}
		return true
	})
}

// close closes c and forgets it. Closing makes the server's read fail; its
// goroutine then reports StateClosed.
func (t *conns) close(c net.Conn) {
	c.Close()
	t.live.Delete(c)
}

// A verdict is what the drain does with a new or idle connection.
type verdict bool

const (
	closable verdict = false // nothing unanswered: close it
	wait     verdict = true  // a request is arriving: wait for it
)

// verdict tells what to do with c, which the server sees in state s
// (StateNew or StateIdle), so as not to cut short a request the peer has
// started to send. net/http cannot tell: it keeps a connection "new" or
// "idle" until a whole request header has been read, so Shutdown closes an
// idle connection whose client is halfway through sending, and drops a
// request whose header it reads after Shutdown started (server.go,
// conn.serve: StateActive is set only after readRequest, then
// shuttingDown ends the connection). The kernel can tell (see inspect):
//   - a new plaintext connection is closable if the peer has sent no byte;
//   - a new TLS connection too; if it has, the drain waits for its
//     handshake to end, and then for the bytes sent since (its request),
//     for firstRequestGrace at least: the handshake's last message, the
//     client's Finished, comes after the server's last send, so tcp_info's
//     times cannot tell it from a request;
//   - an idle one is closable if no data arrived after the server's last
//     send (the response) and none is waiting to be read. TLS adds no
//     record of its own to an idle HTTP/1 connection but alerts, and
//     close_notify ends the connection anyway.
//
// Where the kernel cannot answer, a connection is closable once a TLS
// handshake is over, as net/http's Shutdown would treat it.
func (e *conn) verdict(c net.Conn, s http.ConnState) verdict {
	tc, isTLS := c.(*tls.Conn)
	k, ok := inspect(c)
	switch {
	case ok && k.unread:
		return wait
	case s == http.StateIdle:
		return verdict(ok && k.recvSinceSend)
	case !isTLS:
		return verdict(ok && k.received > 0)
	case ok && k.received == 0:
		return closable
	case !e.hsDone.Load():
		if !e.hsWatched.Swap(true) {
			go e.watchHandshake(tc)
		}
		return wait
	case ok && k.received > e.hsReceived.Load():
		return wait
	default:
		return verdict(time.Since(time.Unix(0, e.hsDoneAt.Load())) < firstRequestGrace)
	}
}

// watchHandshake waits for the server's handshake on c to end and records
// how many bytes the peer had sent by then. It blocks as long as the
// handshake does, which the server's timeouts or a closed connection end:
// ConnectionState holds the handshake's lock (crypto/tls, conn.go), so it
// is never called from the drain's own goroutine.
func (e *conn) watchHandshake(c *tls.Conn) {
	if !c.ConnectionState().HandshakeComplete {
		// Not started yet, or failed: look again at the next poll.
		e.hsWatched.Store(false)
		return
	}
	k, _ := inspect(c)
	e.hsReceived.Store(k.received)
	e.hsDoneAt.Store(time.Now().UnixNano())
	e.hsDone.Store(true)
}

// sockState is what the kernel knows of a connection (see inspect).
type sockState struct {
	received      uint64 // bytes received from the peer, ever
	unread        bool   // bytes received that the server has not read
	recvSinceSend bool   // data arrived after the server's last send
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
