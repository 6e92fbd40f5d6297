package loadtest

import (
	"bufio"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitLimit bounds every wait on a real socket.
const waitLimit = 10 * time.Second

// startNamed serves name and a newline to every line a client sends, on
// 127.0.0.1:0, until the test ends.
func startNamed(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	conns := make(chan net.Conn, 100)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			go func() {
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					if _, err := c.Write([]byte(name + "\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// ask sends a line on c and returns the answer.
func ask(c net.Conn) (string, error) {
	if err := c.SetDeadline(time.Now().Add(waitLimit)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte("who\n")); err != nil {
		return "", err
	}
	s, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return s[:len(s)-1], nil
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func startBalancer(t *testing.T, lag time.Duration, ready ...string) *Balancer {
	t.Helper()
	b, err := NewBalancer(lag, ready...)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBalancerRoundRobinKeepsEstablished(t *testing.T) {
	a, b := startNamed(t, "a"), startNamed(t, "b")
	lb := startBalancer(t, 0, a, b)
	first := dial(t, lb.Addr())
	name, err := ask(first)
	require.NoError(t, err)
	assert.Equal(t, "a", name, "the first connection goes to the first endpoint")
	c := dial(t, lb.Addr())
	name, err = ask(c)
	require.NoError(t, err)
	assert.Equal(t, "b", name)

	lb.SetReady(a, false)
	assert.False(t, lb.InRotation(a))
	for range 4 {
		name, err := ask(dial(t, lb.Addr()))
		require.NoError(t, err)
		assert.Equal(t, "b", name, "a new connection reached the unready endpoint")
	}
	name, err = ask(first)
	require.NoError(t, err, "the established connection was cut")
	assert.Equal(t, "a", name)
}

func TestBalancerResetsWithoutEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gone := ln.Addr().String()
	ln.Close()
	for _, tt := range []struct {
		name  string
		ready []string
	}{{"none ready", nil}, {"refused", []string{gone}}} {
		t.Run(tt.name, func(t *testing.T) {
			lb := startBalancer(t, 0, tt.ready...)
			// The reset may come before the dial returns.
			c, err := net.DialTimeout("tcp", lb.Addr(), waitLimit)
			if err == nil {
				_, err = ask(c)
				c.Close()
			}
			assert.ErrorIs(t, err, syscall.ECONNRESET)
		})
	}
}

func TestBalancerCloseEndsEstablished(t *testing.T) {
	lb, err := NewBalancer(0, startNamed(t, "a"))
	require.NoError(t, err)
	c := dial(t, lb.Addr())
	_, err = ask(c)
	require.NoError(t, err)
	require.NoError(t, lb.Close())
	_, err = ask(c)
	assert.Error(t, err, "the connection outlived the balancer")
	assert.Error(t, lb.Close(), "second Close")
}
