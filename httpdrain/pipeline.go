package httpdrain

import (
	"net/http"
	"strings"
)

// lingerIfPipelined makes net/http close r's connection gracefully after
// the response if the client has pipelined bytes behind r that the server
// has not read. Closing a socket with unread bytes makes the kernel send a
// reset at once, which discards the response's bytes not yet sent (RFC
// 9112 §9.6 asks for a lingering close), and net/http closes a connection
// whose response carries "Connection: close" outright, unless a request
// body went over its limit: then it flushes the response, sends its FIN
// (TLS: close_notify) and waits 500ms before it closes (server.go,
// closeWriteAndWait, golang.org/issue/3595). A read past a
// [http.MaxBytesReader] limit of 0 takes that path, as its doc says it
// does: "it tells the ResponseWriter to close the connection". w must be
// net/http's own ResponseWriter, as the Drainer's middleware gets it when
// [New] wraps srv.Handler. The server's Shutdown waits for such a
// connection those 500ms too.
//
// Pipelined bytes net/http has buffered already cause no reset, and are
// not seen here: only those the kernel holds (see hasUnread).
func lingerIfPipelined(w http.ResponseWriter, r *http.Request) {
	ci := connInfoOf(r)
	if r.ProtoMajor != 1 || ci == nil || ci.conn == nil || !hasUnread(ci.conn) {
		return
	}
	var b [1]byte
	http.MaxBytesReader(w, nopCloser{strings.NewReader("x")}, 0).Read(b[:])
}

// nopCloser is io.NopCloser's result, as a type MaxBytesReader can take.
type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }
