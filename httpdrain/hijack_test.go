package httpdrain_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// socket is a WebSocket-style upgrade: the handler hijacks the connection
// and hands it to an owner goroutine, then returns, as WebSocket servers
// commonly do, so the server forgets the connection (golang/go#17721).
type socket struct {
	d         *httpdrain.Drainer
	cooperate bool          // the owner says goodbye when the drain starts
	release   chan struct{} // the owner waits for it before closing
	closed    atomic.Bool   // the owner closed the connection
	owners    sync.WaitGroup
}

func (s *socket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\nhello\n")
	rw.Flush()
	s.owners.Go(func() { s.own(c) })
}

func (s *socket) own(c net.Conn) {
	defer c.Close()
	if !s.cooperate {
		io.Copy(io.Discard, c) // until the drain closes it
		return
	}
	select {
	case <-s.d.DrainStarted():
	case <-time.After(waitLimit):
	}
	<-s.release
	io.WriteString(c, "bye\n")
	s.closed.Store(true)
}

func upgrade(t *testing.T, addr string) *bufio.Reader {
	t.Helper()
	return upgradeConn(t, dialRaw(t, addr))
}

// upgradeConn asks for the upgrade on c and reads the owner's hello.
func upgradeConn(t *testing.T, c *rawConn) *bufio.Reader {
	t.Helper()
	_, err := io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(c.r, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	line, err := c.r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "hello\n", line)
	return c.r
}

func TestDrainWaitsForHijackedConns(t *testing.T) {
	s := &socket{cooperate: true, release: make(chan struct{})}
	b := startBackend(t, s)
	s.d = b.d
	r := upgrade(t, b.addr)

	errc := b.drainAsync(waitLimit)
	waitClosed(t, b.d.DrainStarted(), "draining")
	waitRefused(t, b.addr)
	close(s.release)
	require.NoError(t, waitErr(t, errc))
	assert.True(t, s.closed.Load(), "Drain returned before the owner closed the hijacked connection")

	line, err := r.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "bye\n", line)
	s.owners.Wait()
}

func TestDrainClosesHijackedConnsAtDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &socket{}
		b := startPipeBackend(t, s)
		s.d = b.d
		r := upgradeConn(t, b.dialRaw(t))

		const budget = 300 * time.Millisecond
		start := time.Now()
		err := <-b.drainAsync(budget)
		assert.Equal(t, budget, time.Since(start), "the drain returns at its deadline")
		require.ErrorIs(t, err, httpdrain.ErrForced)
		assert.Contains(t, err.Error(), "1 hijacked connections open")
		_, err = r.ReadByte()
		assert.ErrorIs(t, err, io.EOF, "the drain closed the hijacked connection")
		s.owners.Wait()
	})
}
