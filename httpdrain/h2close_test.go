package httpdrain_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lameduck/lameduck/httpdrain"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goAwayTimeout is how long net/http's HTTP/2 server keeps a connection
// after its GOAWAY once its streams are over (h2_bundle.go).
const goAwayTimeout = time.Second

// TestHTTP2DrainEndsConnectionsAfterGoAway: a drain whose HTTP/2
// connections have no stream left returns well before net/http's second
// after the GOAWAY, whether a connection was idle when the GOAWAY came
// (Go's client keeps those) or had a stream in flight, and no request fails.
// An idle h2c connection is not here: the drain closes it before Shutdown,
// as it closes an idle HTTP/1 connection, which it cannot tell from it.
func TestHTTP2DrainEndsConnectionsAfterGoAway(t *testing.T) {
	t.Parallel() // waits in real time
	for _, tt := range []struct {
		name     string
		tls      bool
		inFlight bool
	}{
		{"HTTPS/2/idle", true, false},
		{"HTTPS/2/stream in flight", true, true},
		{"h2c/stream in flight", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			mux := http.NewServeMux()
			mux.HandleFunc("/", echo)
			mux.Handle("/gate", g)
			s := startH2(t, mux, tt.tls)
			_, body := s.post(t, "/")
			require.Equal(t, "body", body)
			done := make(chan string, 1)
			if tt.inFlight {
				go func() {
					_, body := s.post(t, "/gate")
					done <- body
				}()
				waitClosed(t, g.entered, "request in handler")
			}

			start := time.Now()
			errc := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				errc <- s.d.Drain(ctx)
			}()
			if tt.inFlight {
				waitRefused(t, hostOf(s.url))
				close(g.release)
				select {
				case body := <-done:
					assert.Equal(t, "done", body)
				case <-time.After(waitLimit):
					t.Fatal("no response")
				}
				start = time.Now()
			}
			if !tt.inFlight {
				waitClosed(t, s.closed, "connection closed")
				t.Logf("the connection closed %v after the drain started", time.Since(start))
			}
			require.NoError(t, waitErr(t, errc))
			took := time.Since(start)
			t.Logf("the drain returned %v after the last stream", took)
			assert.Less(t, took, goAwayTimeout*6/10, "the connection outlived its GOAWAY")
		})
	}
}

func hostOf(url string) string {
	for _, p := range []string{"https://", "http://"} {
		if len(url) > len(p) && url[:len(p)] == p {
			return url[len(p):]
		}
	}
	return url
}

// h2Frame is a frame read by rawH2.
type h2Frame struct {
	typ, flags byte
	stream     uint32
	payload    []byte
}

// Frame types and flags of RFC 9113 used here.
const (
	frameData     = 0x0
	frameHeaders  = 0x1
	frameSettings = 0x4
	frameGoAway   = 0x7
	flagEndStream = 0x1
	flagAck       = 0x1
	flagEndHeader = 0x4
)

// rawH2 is an HTTP/2 client that does what net/http's does not: it keeps
// its connection after the GOAWAY and its last stream, as curl, browsers
// and proxies may, so that only the server can end it.
type rawH2 struct {
	c net.Conn
	r *bufio.Reader
}

func dialRawH2(t *testing.T, url string, useTLS bool, roots *x509.CertPool) *rawH2 {
	t.Helper()
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.Dial("tcp", hostOf(url), &tls.Config{RootCAs: roots, ServerName: "example.com", NextProtos: []string{"h2"}})
	} else {
		c, err = net.Dial("tcp", hostOf(url))
	}
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(waitLimit)))
	h := &rawH2{c: c, r: bufio.NewReader(c)}
	_, err = io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	require.NoError(t, err)
	h.write(t, frameSettings, 0, 0, nil)
	return h
}

func (h *rawH2) write(t *testing.T, typ, flags byte, stream uint32, payload []byte) {
	t.Helper()
	hdr := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags}
	hdr = binary.BigEndian.AppendUint32(hdr, stream)
	_, err := h.c.Write(append(hdr, payload...))
	require.NoError(t, err)
}

// read returns the next frame, acknowledging the server's settings.
func (h *rawH2) read(t *testing.T) (h2Frame, error) {
	t.Helper()
	var hdr [9]byte
	if _, err := io.ReadFull(h.r, hdr[:]); err != nil {
		return h2Frame{}, err
	}
	f := h2Frame{typ: hdr[3], flags: hdr[4], stream: binary.BigEndian.Uint32(hdr[5:]) & 0x7fffffff,
		payload: make([]byte, int(hdr[0])<<16|int(hdr[1])<<8|int(hdr[2]))}
	if _, err := io.ReadFull(h.r, f.payload); err != nil {
		return f, err
	}
	if f.typ == frameSettings && f.flags&flagAck == 0 {
		h.write(t, frameSettings, flagAck, 0, nil)
	}
	return f, nil
}

// readUntil reads frames until one of type typ, and returns it.
func (h *rawH2) readUntil(t *testing.T, typ byte) h2Frame {
	t.Helper()
	for {
		f, err := h.read(t)
		require.NoError(t, err)
		if f.typ == typ {
			return f
		}
	}
}

// get opens stream id with a GET of path, without a body.
func (h *rawH2) get(t *testing.T, id uint32, path string) {
	t.Helper()
	// HPACK: :method GET, :scheme http (static 2 and 6), then :path and
	// :authority as literals with indexed names (static 4 and 1).
	block := []byte{0x82, 0x86, 0x44, byte(len(path))}
	block = append(block, path...)
	block = append(block, 0x41, 4, 't', 'e', 's', 't')
	h.write(t, frameHeaders, flagEndStream|flagEndHeader, id, block)
}

// TestHTTP2DrainEndsConnectionKeptByClient: a client that keeps its
// connection after the GOAWAY and the end of its last stream gets every
// frame of the response, then the end of the connection (no reset), well
// before net/http's second.
func TestHTTP2DrainEndsConnectionKeptByClient(t *testing.T) {
	t.Parallel() // waits in real time
	for _, tt := range []struct {
		name   string
		useTLS bool
		extra  int // bytes of response after "done", in several frames
	}{
		{"HTTPS/2", true, 0},
		{"h2c", false, 0},
		{"HTTPS/2/60KB", true, 60000},
		{"h2c/60KB", false, 60000},
	} {
		useTLS := tt.useTLS
		extra := strings.Repeat("x", tt.extra)
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				g.ServeHTTP(w, r)
				io.WriteString(w, extra)
			}))
			d := httpdrain.New(ts.Config, make(lifecycle))
			if useTLS {
				ts.EnableHTTP2 = true
				ts.StartTLS()
			} else {
				ts.Config.Protocols = new(http.Protocols)
				ts.Config.Protocols.SetUnencryptedHTTP2(true)
				ts.Start()
			}
			t.Cleanup(func() {
				d.Drain(canceled())
				ts.Close()
			})
			var roots *x509.CertPool
			if useTLS {
				roots = ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
			}
			h := dialRawH2(t, ts.URL, useTLS, roots)
			h.get(t, 1, "/gate")
			waitClosed(t, g.entered, "request in handler")

			errc := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				errc <- d.Drain(ctx)
			}()
			goAway := h.readUntil(t, frameGoAway)
			assert.EqualValues(t, 1, binary.BigEndian.Uint32(goAway.payload)&0x7fffffff, "last stream")
			close(g.release)
			var body []byte
			for {
				f := h.readUntil(t, frameData)
				body = append(body, f.payload...)
				if f.flags&flagEndStream != 0 {
					break
				}
			}
			ended := time.Now()
			assert.Equal(t, "done"+extra, string(body))
			for {
				f, err := h.read(t)
				if err != nil {
					require.ErrorIs(t, err, io.EOF, "the server ends the connection cleanly")
					break
				}
				require.NotEqual(t, frameData, f.typ, "data after the stream ended")
			}
			took := time.Since(ended)
			t.Logf("the connection ended %v after its last stream", took)
			assert.Less(t, took, goAwayTimeout*6/10, "the connection outlived its GOAWAY")
			h.c.Close()
			require.NoError(t, waitErr(t, errc))
		})
	}
}

// BenchmarkDrainHTTP2 measures a drain of a server with 8 idle HTTP/2
// keep-alive connections from Go clients, which keep an idle connection
// after its GOAWAY, against the server's own Shutdown.
func BenchmarkDrainHTTP2(b *testing.B) {
	const clients = 8
	for _, useTLS := range []bool{true, false} {
		proto := "h2"
		if !useTLS {
			proto = "h2c"
		}
		for _, stop := range []string{"drainer", "shutdown"} {
			b.Run(proto+"/"+stop, func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					ts := httptest.NewUnstartedServer(http.HandlerFunc(echo))
					d := httpdrain.New(ts.Config, make(lifecycle), quiet)
					var base http.Transport
					if useTLS {
						ts.EnableHTTP2 = true
						ts.StartTLS()
						base.TLSClientConfig = &tls.Config{RootCAs: ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
						base.Protocols = new(http.Protocols)
						base.Protocols.SetHTTP2(true)
					} else {
						ts.Config.Protocols = new(http.Protocols)
						ts.Config.Protocols.SetUnencryptedHTTP2(true)
						ts.Start()
						base.Protocols = new(http.Protocols)
						base.Protocols.SetUnencryptedHTTP2(true)
					}
					trs := make([]*http.Transport, clients)
					for i := range trs {
						trs[i] = base.Clone()
						resp, err := (&http.Client{Transport: trs[i]}).Post(ts.URL, "text/plain", strings.NewReader("x"))
						if err != nil {
							b.Fatal(err)
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					b.StartTimer()
					var err error
					if stop == "drainer" {
						err = drain(d.Drain)
					} else {
						err = drain(ts.Config.Shutdown)
					}
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					d.Drain(canceled())
					for _, tr := range trs {
						tr.CloseIdleConnections()
					}
					ts.Close()
					b.StartTimer()
				}
			})
		}
	}
}
