package httpdrain_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// stallBudget is the drain budget of the stalled-client tests: far more
// than the header grace, so that a drain held by the client shows.
const stallBudget = 8 * time.Second

// stalledClients are clients that start a request and never finish its
// header: a single byte, over plaintext or as the start of a TLS
// handshake, and a slowloris that sends a header byte at a time.
var stalledClients = []struct {
	name string
	// tls serves TLS; handshake makes the client complete its
	// handshake before it stalls.
	tls, handshake bool
	stall          func(t *testing.T, c net.Conn, stop <-chan struct{})
}{
	{"one byte", false, false, oneByte},
	{"one byte TLS", true, false, oneByte},
	{"slowloris", false, false, slowloris},
	{"slowloris TLS", true, true, slowloris},
}

// oneByte sends a single byte, then nothing.
func oneByte(t *testing.T, c net.Conn, _ <-chan struct{}) {
	_, err := c.Write([]byte("P"))
	require.NoError(t, err)
}

// slowloris sends a request header a byte every 10ms until stop, never
// ending it.
func slowloris(t *testing.T, c net.Conn, stop <-chan struct{}) {
	_, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: test\r\n")
	require.NoError(t, err)
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("X")); err != nil {
					return
				}
			}
		}
	}()
}

// acceptCounter counts the connections a server has accepted, through
// its ConnState hook, which New chains after its own: once counted, a
// connection is one the Drainer tracks.
type acceptCounter struct{ n atomic.Int64 }

func (a *acceptCounter) hook(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		a.n.Add(1)
	}
}

// wait waits until want connections have been accepted.
func (a *acceptCounter) wait(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for a.n.Load() < want {
		require.True(t, time.Now().Before(deadline), "%d connections accepted, want %d", a.n.Load(), want)
		time.Sleep(time.Millisecond) // a poll: the hook has no channel to wait on
	}
}

// startStallBackend serves echo like startBackend, or startTLSBackend,
// counting accepted connections.
func startStallBackend(t *testing.T, useTLS bool) (*backend, *acceptCounter) {
	a := new(acceptCounter)
	srv := &http.Server{Handler: http.HandlerFunc(echo), ConnState: a.hook}
	if useTLS {
		return serveTLSWith(t, srv), a
	}
	return serveWith(t, srv), a
}

// dialStalled connects to b and runs stall on the connection, after a TLS
// handshake if handshake is set.
func dialStalled(t *testing.T, b *backend, handshake bool, stall func(*testing.T, net.Conn, <-chan struct{})) net.Conn {
	t.Helper()
	raw, err := net.Dial("tcp", b.addr)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	require.NoError(t, raw.SetDeadline(time.Now().Add(waitLimit)))
	c := raw
	if handshake {
		_, pool := testCert()
		tc := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
		require.NoError(t, tc.Handshake())
		c = tc
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	stall(t, c, stop)
	return c
}

// TestDrainIsNotHeldByStalledClient: a client that starts a request and
// never finishes its header is not a request in flight. The listener
// closes at the drain start, the connection is closed after the header
// grace, and the drain ends long before its deadline, with nil.
func TestDrainIsNotHeldByStalledClient(t *testing.T) {
	for _, tt := range stalledClients {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each waits out the header grace in real time
			b, accepted := startStallBackend(t, tt.tls)
			c := dialStalled(t, b, tt.handshake, tt.stall)
			accepted.wait(t, 1)
			closed := make(chan struct{})
			go func() {
				defer close(closed)
				io.Copy(io.Discard, c)
			}()
			time.Sleep(20 * time.Millisecond) // the stall reaches the server (more than a jiffy)

			start := time.Now()
			errc := b.drainAsync(stallBudget)
			waitClosed(t, b.d.DrainStarted(), "drain start")
			refused := dialRefused(b.addr)
			select {
			case <-closed:
				t.Fatal("the stalled connection was closed before the listener refused a dial")
			default:
			}
			assert.True(t, refused, "the listener must refuse connections from the drain start")
			require.NoError(t, waitErr(t, errc))
			assert.Less(t, time.Since(start), stallBudget/4, "the stalled client held the drain")
			waitClosed(t, closed, "stalled connection closed")
		})
	}
}

// dialRefused reports whether a dial to addr is refused.
func dialRefused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// TestDrainReportsStalledRequestCutAtDeadline: a request whose header is
// still arriving when the deadline comes is cut, and Drain says so.
func TestDrainReportsStalledRequestCutAtDeadline(t *testing.T) {
	t.Parallel()
	b, accepted := startStallBackend(t, false)
	dialStalled(t, b, false, slowloris)
	accepted.wait(t, 1)
	time.Sleep(20 * time.Millisecond)                    // the stall reaches the server (more than a jiffy)
	err := waitErr(t, b.drainAsync(30*time.Millisecond)) // shorter than the header grace
	require.ErrorIs(t, err, httpdrain.ErrForced)
}

// TestDrainAmongManyIdleConns: among many idle connections, the drain
// closes them all and still counts the request arriving on another: cut at
// the deadline, it is reported.
func TestDrainAmongManyIdleConns(t *testing.T) {
	t.Parallel()
	const n, dialers = 1100, 8
	b, accepted := startStallBackend(t, false)
	conns := make([]*rawConn, n)
	var g errgroup.Group
	for d := range dialers {
		g.Go(func() error {
			for i := d; i < n; i += dialers {
				c, err := net.Dial("tcp", b.addr)
				if err != nil {
					return err
				}
				t.Cleanup(func() { c.Close() })
				if err := c.SetDeadline(time.Now().Add(waitLimit)); err != nil {
					return err
				}
				conns[i] = newRawConn(c)
				if _, _, err := conns[i].roundTrip("/", "first"); err != nil {
					return err
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	dialStalled(t, b, false, slowloris)
	accepted.wait(t, n+1)
	time.Sleep(20 * time.Millisecond) // the stall reaches the server (more than a jiffy)

	err := waitErr(t, b.drainAsync(30*time.Millisecond)) // shorter than the header grace
	require.ErrorIs(t, err, httpdrain.ErrForced)
	for _, c := range conns {
		c.waitEOF(t)
	}
}
