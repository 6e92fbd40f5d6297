package httpdrain_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// events is a server-sent events handler that never ends by itself: it
// sends one event, then waits for its StreamContext to end and sends a
// last one.
type events struct {
	opened chan struct{}
	causes chan error
}

func newEvents() *events {
	return &events{opened: make(chan struct{}, 10), causes: make(chan error, 10)}
}

func (e *events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, stop := httpdrain.StreamContext(r.Context())
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	io.WriteString(w, "data: 1\n\n")
	http.NewResponseController(w).Flush()
	e.opened <- struct{}{}
	<-ctx.Done()
	e.causes <- context.Cause(ctx)
	io.WriteString(w, "event: bye\ndata: draining\n\n")
}

// finite is a handler whose response takes until it is released, and
// reports whether its request's context was still alive then.
type finite struct {
	entered chan struct{}
	release chan struct{}
	ctxErr  chan error
}

func newFinite() *finite {
	return &finite{entered: make(chan struct{}, 10), release: make(chan struct{}), ctxErr: make(chan error, 10)}
}

func (f *finite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	f.entered <- struct{}{}
	select {
	case <-f.release:
	case <-r.Context().Done():
	}
	f.ctxErr <- r.Context().Err()
	io.WriteString(w, "done")
}

// streamServer is a real server on loopback with a Drainer, and a client
// for it that does not retry.
type streamServer struct {
	d      *httpdrain.Drainer
	url    string
	client *http.Client
	proto  int // the HTTP major version the client must see
}

// startStreams serves h over HTTP/1.1 or HTTP/2, in cleartext or TLS.
func startStreams(t *testing.T, h http.Handler, h2, useTLS bool, opts ...httpdrain.Option) *streamServer {
	t.Helper()
	if h2 {
		s := startH2(t, h, useTLS)
		return &streamServer{d: s.d, url: s.url, client: s.client, proto: 2}
	}
	ts := httptest.NewUnstartedServer(h)
	d := httpdrain.New(ts.Config, make(lifecycle), opts...)
	tr := &http.Transport{}
	if useTLS {
		ts.StartTLS()
		tr.TLSClientConfig = &tls.Config{RootCAs: ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	} else {
		ts.Start()
	}
	t.Cleanup(func() {
		d.Drain(canceled())
		tr.CloseIdleConnections()
		ts.Close()
	})
	return &streamServer{d: d, url: ts.URL, client: &http.Client{Transport: tr}, proto: 1}
}

// open sends a POST the client cannot replay and returns the response,
// its headers read.
func (s *streamServer) open(t *testing.T, path string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+path, strings.NewReader("body"))
	require.NoError(t, err)
	req.GetBody = nil // no replay
	resp, err := s.client.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, s.proto, resp.ProtoMajor)
	return resp
}

// readAll reads the rest of body within waitLimit.
func readAll(t *testing.T, body io.Reader) (string, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(body)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return string(r.b), r.err
	case <-time.After(waitLimit):
		t.Fatal("body not read in time")
		return "", nil
	}
}

// TestStreamContextEndsEventStream shows what a client of server-sent
// events sees at the drain: the stream ends cleanly, with the last event,
// as soon as the drain starts, while a finite request on the same server
// completes with its context alive, and the drain returns nil.
func TestStreamContextEndsEventStream(t *testing.T) {
	t.Parallel() // waits in real time
	for _, tt := range []struct {
		name       string
		h2, useTLS bool
	}{
		{"HTTP/1.1", false, false},
		{"HTTPS/1.1", false, true},
		{"HTTPS/2", true, true},
		{"h2c", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev, fin := newEvents(), newFinite()
			mux := http.NewServeMux()
			mux.Handle("/events", ev)
			mux.Handle("/work", fin)
			s := startStreams(t, mux, tt.h2, tt.useTLS)

			resp := s.open(t, "/events")
			br := bufio.NewReader(resp.Body)
			first, err := br.ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "data: 1\n", first)
			waitClosed(t, ev.opened, "stream open")

			work := make(chan string, 1)
			go func() {
				resp := s.open(t, "/work")
				b, err := io.ReadAll(resp.Body)
				assert.NoError(t, err)
				work <- string(b)
			}()
			waitClosed(t, fin.entered, "finite request in handler")

			errc := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				errc <- s.d.Drain(ctx)
			}()
			rest, err := readAll(t, br)
			require.NoError(t, err, "the stream ends cleanly: a final chunk, or END_STREAM")
			assert.Equal(t, "\nevent: bye\ndata: draining\n\n", rest)
			select {
			case cause := <-ev.causes:
				assert.ErrorIs(t, cause, httpdrain.ErrDraining)
			case <-time.After(waitLimit):
				t.Fatal("no cause")
			}

			select {
			case err := <-errc:
				t.Fatalf("the drain returned (%v) with a finite request in flight", err)
			default:
			}
			close(fin.release)
			select {
			case body := <-work:
				assert.Equal(t, "done", body)
			case <-time.After(waitLimit):
				t.Fatal("no response to the finite request")
			}
			assert.NoError(t, <-fin.ctxErr, "the drain cancelled a finite request's context")
			require.NoError(t, waitErr(t, errc))
		})
	}
}

// wsock is a WebSocket-style handler: it hijacks the connection and hands
// it to an owner goroutine that outlives it. At the drain, the owner sends
// a close frame with status 1001 (Going Away), waits for the client's
// close frame, and closes the connection (RFC 6455 §5.5.1, §7.4.1).
type wsock struct {
	owners sync.WaitGroup
	causes chan error
	closed atomic.Bool // the owner closed the connection
}

// goingAway is an unmasked close frame with status 1001.
var goingAway = []byte{0x88, 0x02, 0x03, 0xe9}

func (ws *wsock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, stop := httpdrain.StreamContext(context.WithoutCancel(r.Context()))
	c, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		stop()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	rw.Flush()
	ws.owners.Go(func() {
		defer stop()
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitLimit))
		<-ctx.Done()
		ws.causes <- context.Cause(ctx)
		c.Write(goingAway)
		reply := make([]byte, 6+2) // a masked close frame with a status
		io.ReadFull(rw, reply)
		ws.closed.Store(true)
	})
}

// TestStreamContextHijacked shows a WebSocket-style connection told of the
// drain: the client gets a close frame 1001 at the drain's start, the
// drain waits for the connection to be closed, and returns nil.
func TestStreamContextHijacked(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := "ws"
		if useTLS {
			name = "wss"
		}
		t.Run(name, func(t *testing.T) {
			ws := &wsock{causes: make(chan error, 1)}
			ts := httptest.NewUnstartedServer(ws)
			d := httpdrain.New(ts.Config, make(lifecycle))
			var c net.Conn
			var err error
			if useTLS {
				ts.StartTLS()
				cfg := &tls.Config{RootCAs: ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, ServerName: "example.com"}
				c, err = tls.Dial("tcp", ts.Listener.Addr().String(), cfg)
			} else {
				ts.Start()
				c, err = net.Dial("tcp", ts.Listener.Addr().String())
			}
			require.NoError(t, err)
			t.Cleanup(func() {
				c.Close()
				d.Drain(canceled())
				ts.Close()
				ws.owners.Wait()
			})
			require.NoError(t, c.SetDeadline(time.Now().Add(waitLimit)))
			br := bufio.NewReader(c)
			_, err = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			require.NoError(t, err)
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)

			errc := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				errc <- d.Drain(ctx)
			}()
			frame := make([]byte, len(goingAway))
			_, err = io.ReadFull(br, frame)
			require.NoError(t, err)
			assert.Equal(t, goingAway, frame, "close frame 1001 Going Away")
			assert.ErrorIs(t, <-ws.causes, httpdrain.ErrDraining)
			select {
			case err := <-errc:
				t.Fatalf("the drain returned (%v) before the hijacked connection closed", err)
			default:
			}

			// The client's close frame, masked with a zero key.
			_, err = c.Write([]byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe9})
			require.NoError(t, err)
			_, err = br.ReadByte()
			assert.ErrorIs(t, err, io.EOF, "the owner closes the connection")
			require.NoError(t, waitErr(t, errc))
			assert.True(t, ws.closed.Load(), "the drain returned before the owner closed the connection")
		})
	}
}

// TestStreamContextWithoutDrainer: a context that does not come from a
// server with a Drainer is never ended by a drain; stop cancels it.
func TestStreamContextWithoutDrainer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &http.Server{}
		d := httpdrain.New(srv, make(lifecycle), quiet)
		ctx, stop := httpdrain.StreamContext(context.Background())
		require.NoError(t, d.Drain(canceled()))
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.NoError(t, ctx.Err())
		stop()
		stop()
		assert.ErrorIs(t, context.Cause(ctx), context.Canceled)
	})
}

// TestStreamEndWindow: with a window, streams end at turns spread over
// it from the drain's start, never before; streams stopped before their
// turn, or opened after the drain started, are handled too.
func TestStreamEndWindow(t *testing.T) {
	const window = time.Second
	synctest.Test(t, func(t *testing.T) {
		srv := &http.Server{}
		d := httpdrain.New(srv, make(lifecycle), quiet, httpdrain.WithDrainWindow(window))
		conn := srv.ConnContext(context.Background(), nil) // as net/http makes it

		const n = 200
		ends := make([]time.Duration, n)
		causes := make([]error, n)
		var start time.Time
		var wg sync.WaitGroup
		for i := range n {
			ctx, stop := httpdrain.StreamContext(conn)
			defer stop()
			wg.Go(func() {
				<-ctx.Done()
				ends[i], causes[i] = time.Since(start), context.Cause(ctx)
			})
		}
		stopped, stop := httpdrain.StreamContext(conn)
		time.Sleep(time.Minute)
		synctest.Wait()
		for i := range n {
			require.Zero(t, ends[i], "a stream ended before the drain")
		}
		stop()

		start = time.Now()
		require.NoError(t, d.Drain(canceled()))
		time.Sleep(window)
		wg.Wait()
		late, lateStop := httpdrain.StreamContext(conn)
		defer lateStop()
		synctest.Wait()
		quarters := make([]int, 4)
		for i := range n {
			assert.ErrorIs(t, causes[i], httpdrain.ErrDraining)
			assert.Less(t, ends[i], window)
			quarters[ends[i]*4/window]++
		}
		for q, k := range quarters {
			assert.Greater(t, k, n/8, "quarter %d of the window: %v", q, quarters)
		}
		assert.ErrorIs(t, context.Cause(stopped), context.Canceled, "stopped before the drain")
		assert.ErrorIs(t, context.Cause(late), httpdrain.ErrDraining, "opened after the window ended")
	})
}

// TestStreamContextReplacedConnContext: a server whose ConnContext was
// replaced after New cannot tell streams of the drain; the first request
// logs it.
func TestStreamContextReplacedConnContext(t *testing.T) {
	var logs logBuffer
	ts := httptest.NewUnstartedServer(http.HandlerFunc(echo))
	d := httpdrain.New(ts.Config, make(lifecycle), httpdrain.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	ts.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context { return ctx }
	ts.Start()
	t.Cleanup(func() {
		d.Drain(canceled())
		ts.Close()
	})
	c := dialRaw(t, ts.Listener.Addr().String())
	_, body, err := c.roundTrip("/", "x")
	require.NoError(t, err)
	assert.Equal(t, "x", body)
	assertBypassLog(t, logs.String(), "srv.ConnContext")
}

// BenchmarkStreamContext measures what a stream pays to be told of the
// drain: one StreamContext and its stop, against a plain WithCancel.
func BenchmarkStreamContext(b *testing.B) {
	srv := &http.Server{}
	d := httpdrain.New(srv, make(lifecycle), quiet)
	b.Cleanup(func() { d.Drain(canceled()) })
	conn := srv.ConnContext(context.Background(), nil)
	b.Run("WithCancel", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, cancel := context.WithCancel(conn)
			cancel()
		}
	})
	b.Run("StreamContext", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, stop := httpdrain.StreamContext(conn)
			stop()
		}
	})
}
