package httpdrain_test

import (
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/stretchr/testify/require"
)

// pipeListener is an in-memory listener whose connections are net.Pipe
// pairs, as net/http's own tests use: testing/synctest cannot see real
// sockets, so the tests of clock-driven behaviour serve on it inside a
// bubble. Its connections have no socket: the drain cannot ask the kernel
// about them, so it treats an idle or new one as quiet and a hijacked one
// as open until the drain closes it, and the listener refuses connections
// only once Shutdown closes it.
type pipeListener struct {
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial returns the client end of a new connection the server accepts.
func (l *pipeListener) dial() (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		server.Close()
		client.Close()
		return nil, net.ErrClosed
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// pipeBackend is a server with a Drainer on a pipeListener.
type pipeBackend struct {
	*backend
	ln *pipeListener
}

// startPipeBackend serves h on a pipeListener through a Drainer, for a
// test inside a synctest bubble; the server is closed when the test ends.
func startPipeBackend(t *testing.T, h http.Handler, opts ...httpdrain.Option) *pipeBackend {
	t.Helper()
	ln := newPipeListener()
	b := &backend{srv: &http.Server{Handler: h}, trigger: make(chan struct{}), served: make(chan error, 1), addr: "pipe"}
	b.d = httpdrain.New(b.srv, lifecycle(b.trigger), opts...)
	go func() { b.served <- b.srv.Serve(ln) }()
	t.Cleanup(func() {
		b.d.Drain(canceled())
		b.srv.Close()
		<-b.served
	})
	return &pipeBackend{backend: b, ln: ln}
}

// dialRaw connects a raw HTTP/1.1 client, closed when the test ends.
func (b *pipeBackend) dialRaw(t *testing.T) *rawConn {
	t.Helper()
	c, err := b.ln.dial()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(waitLimit)))
	return newRawConn(c)
}
