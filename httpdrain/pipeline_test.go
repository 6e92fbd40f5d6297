package httpdrain_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bigSize is the size of the response a pipelined request waits behind:
// more than the socket buffers hold, so that it is still being sent when
// the handler returns.
const bigSize = 16 << 20

// bigResponse answers with bigSize bytes.
func bigResponse(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Length", strconv.Itoa(bigSize))
	chunk := make([]byte, 64<<10)
	for n := 0; n < bigSize; n += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// TestPipelinedRequestDoesNotCutResponse: a client pipelines a POST behind
// a large response that asks it to close the connection; the response must
// arrive whole, as it does from a server that keeps the connection. (The
// pipelined bytes left unread in the kernel made closing the connection
// send a reset, which discards the response's unsent bytes.)
func TestPipelinedRequestDoesNotCutResponse(t *testing.T) {
	cases := []struct {
		name string
		opts []httpdrain.Option
		lame bool
	}{
		{"serving", nil, false},
		{"lame duck", nil, true},
		{"max requests", []httpdrain.Option{httpdrain.WithMaxConnectionRequests(1)}, false},
	}
	for _, tt := range cases {
		for _, useTLS := range []bool{false, true} {
			name := tt.name
			if useTLS {
				name += " TLS"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel() // a graceful close waits 500ms in real time
				closed := make(chan struct{}, 1)
				srv := &http.Server{Handler: http.HandlerFunc(bigResponse), ConnState: func(_ net.Conn, s http.ConnState) {
					if s == http.StateClosed {
						closed <- struct{}{}
					}
				}}
				var b *backend
				if useTLS {
					b = serveTLSWith(t, srv, tt.opts...)
				} else {
					b = serveWith(t, srv, tt.opts...)
				}
				if tt.lame {
					close(b.trigger)
					waitClosed(t, httpdrain.LameDuckStarted(b.d), "lame-duck phase")
				}
				var c net.Conn
				c, err := net.Dial("tcp", b.addr)
				require.NoError(t, err)
				defer c.Close()
				require.NoError(t, c.SetDeadline(time.Now().Add(waitLimit)))
				if useTLS {
					_, pool := testCert()
					c = tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
				}
				body := strings.Repeat("x", 64<<10)
				_, err = io.WriteString(c, "GET /big HTTP/1.1\r\nHost: test\r\n\r\n"+postHead("/", body)+body)
				require.NoError(t, err)
				r := bufio.NewReader(c)
				resp, err := http.ReadResponse(r, nil)
				require.NoError(t, err)
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				require.NoError(t, err, "after %d of %d bytes", n, bigSize)
				assert.EqualValues(t, bigSize, n)
				if !resp.Close {
					return // served by a server that keeps the connection
				}
				_, err = r.ReadByte()
				assert.ErrorIs(t, err, io.EOF, "the server must close gracefully, not reset")
				waitClosed(t, closed, "server closed the connection")
			})
		}
	}
}
