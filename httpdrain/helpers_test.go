package httpdrain_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/stretchr/testify/require"
)

// waitLimit bounds every wait for something that should take milliseconds.
const waitLimit = 20 * time.Second

// statsEnv, set to 1, runs the statistical tests: measurements of shares
// and bursts over many real connections, which take seconds and whose
// bounds a loaded machine can miss. They document figures; the behaviour
// they rest on has tests of its own that run by default.
const statsEnv = "LAMEDUCK_STATS"

// statsOnly skips t unless LAMEDUCK_STATS=1.
func statsOnly(t *testing.T) {
	t.Helper()
	if os.Getenv(statsEnv) != "1" {
		t.Skip("a statistical test: run with " + statsEnv + "=1")
	}
}

// lifecycle is a trigger channel as an [httpdrain.Lifecycle].
type lifecycle chan struct{}

func (l lifecycle) Triggered() <-chan struct{} { return l }

// backend is a real server on loopback with a Drainer.
type backend struct {
	srv     *http.Server
	d       *httpdrain.Drainer
	addr    string
	trigger chan struct{}
	served  chan error
}

// startBackend serves h on 127.0.0.1:0 through a Drainer; the server is
// closed when the test ends.
func startBackend(t testing.TB, h http.Handler, opts ...httpdrain.Option) *backend {
	t.Helper()
	return serveWith(t, &http.Server{Handler: h}, opts...)
}

// serveWith serves srv like startBackend.
func serveWith(t testing.TB, srv *http.Server, opts ...httpdrain.Option) *backend {
	t.Helper()
	return serveWithFunc(t, srv, srv.Serve, opts...)
}

// serveWithFunc is serveWith with serve (srv.Serve or a srv.ServeTLS) to
// serve the listener.
func serveWithFunc(t testing.TB, srv *http.Server, serve func(net.Listener) error, opts ...httpdrain.Option) *backend {
	t.Helper()
	b := &backend{srv: srv, trigger: make(chan struct{}), served: make(chan error, 1)}
	b.d = httpdrain.New(b.srv, lifecycle(b.trigger), opts...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b.addr = ln.Addr().String()
	go func() { b.served <- serve(ln) }()
	t.Cleanup(func() {
		b.d.Drain(canceled()) // ends the Drainer's goroutine
		b.srv.Close()
		select {
		case <-b.served:
		case <-time.After(waitLimit):
			t.Error("Serve did not return")
		}
	})
	return b
}

// canceled returns a context that has ended.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// drainAsync starts Drain with the given budget and returns its result channel.
func (b *backend) drainAsync(budget time.Duration) <-chan error {
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		errc <- b.d.Drain(ctx)
	}()
	return errc
}

// waitErr waits for a result from errc.
func waitErr(t testing.TB, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(waitLimit):
		t.Fatal("no result in time")
		return nil
	}
}

// waitClosed waits until ch is closed or receives.
func waitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("%s: not in time", what)
	}
}

// rawConn is a raw HTTP/1.1 client connection.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(waitLimit)))
	return newRawConn(c)
}

// newRawConn is a raw HTTP/1.1 client on c.
func newRawConn(c net.Conn) *rawConn { return &rawConn{Conn: c, r: bufio.NewReader(c)} }

// postHead is the head of a POST with a body of len(body) bytes.
func postHead(path, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", path, len(body))
}

// roundTrip sends a POST and reads the response.
func (c *rawConn) roundTrip(path, body string) (*http.Response, string, error) {
	if _, err := io.WriteString(c, postHead(path, body)+body); err != nil {
		return nil, "", err
	}
	return c.read()
}

func (c *rawConn) read() (*http.Response, string, error) {
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// waitEOF waits until the server closes c, failing on data.
func (c *rawConn) waitEOF(t testing.TB) {
	t.Helper()
	n, err := c.r.Read(make([]byte, 1))
	require.Zero(t, n, "unexpected data")
	require.True(t, errors.Is(err, io.EOF) || isReset(err), "want EOF, got %v", err)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// echo answers a POST with its body.
func echo(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Write(b)
}

// gate is a handler that blocks until released, ignoring its context, and
// reports each request that entered.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 100), release: make(chan struct{})} }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	g.entered <- struct{}{}
	<-g.release
	io.WriteString(w, "done")
}
