package main

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkUnreadyLeavesRotation is shared by the balancer tests: a backend
// that turns unready stops getting NEW connections once the balancer
// learned it, while a connection established before keeps working.
// It returns the time from the backend turning unready to the balancer
// taking it out of rotation.
func checkUnreadyLeavesRotation(t *testing.T, lb balancer, a, b *nameServer) time.Duration {
	t.Helper()
	waitFor(t, "both backends in rotation", func() bool { return inRotation(t, lb, 0) && inRotation(t, lb, 1) })

	// Round robin: among a few new connections, one reaches a.
	var pinned net.Conn
	for range 10 {
		c, name := dialName(t, lb.Addr())
		if name == a.name && pinned == nil {
			pinned = c
			continue
		}
		c.Close()
	}
	require.NotNil(t, pinned, "no connection reached %s", a.name)
	defer pinned.Close()

	turned := time.Now()
	a.ready.Store(false)
	waitFor(t, "a out of rotation", func() bool { return !inRotation(t, lb, 0) })
	learned := time.Since(turned)

	for range 10 {
		c, name := dialName(t, lb.Addr())
		c.Close()
		assert.Equal(t, b.name, name, "a new connection reached the unready backend")
	}
	name, err := ask(pinned)
	require.NoError(t, err, "the established connection was cut")
	assert.Equal(t, a.name, name)
	return learned
}

func TestKubeProxyUnreadyBackendGetsNoNewConnections(t *testing.T) {
	a, b := startNameServer(t, "a"), startNameServer(t, "b")
	const lag = 300 * time.Millisecond
	lb, err := newKubeProxy([]endpoint{a.endpoint(), b.endpoint()}, 20*time.Millisecond, lag)
	require.NoError(t, err)
	defer lb.Close()

	learned := checkUnreadyLeavesRotation(t, lb, a, b)
	assert.GreaterOrEqual(t, learned, lag, "the balancer learned of the change before the propagation lag")

	a.ready.Store(true)
	waitFor(t, "a back in rotation", func() bool { return inRotation(t, lb, 0) })
}

func TestKubeProxyNoReadyBackendRejects(t *testing.T) {
	a := startNameServer(t, "a")
	a.ready.Store(false)
	lb, err := newKubeProxy([]endpoint{a.endpoint()}, 20*time.Millisecond, 0)
	require.NoError(t, err)
	defer lb.Close()

	// The balancer resets the connection, maybe before the dial returns.
	c, err := net.DialTimeout("tcp", lb.Addr(), 10*time.Second)
	if err == nil {
		defer c.Close()
		_, err = ask(c)
	}
	require.Error(t, err, "a connection was served with no ready backend")
}

func TestKubeProxyCloseEndsEstablishedConnections(t *testing.T) {
	a := startNameServer(t, "a")
	lb, err := newKubeProxy([]endpoint{a.endpoint()}, 20*time.Millisecond, 0)
	require.NoError(t, err)
	waitFor(t, "a in rotation", func() bool { return inRotation(t, lb, 0) })
	c, name := dialName(t, lb.Addr())
	defer c.Close()
	require.Equal(t, "a", name)

	require.NoError(t, lb.Close())
	_, err = ask(c)
	require.Error(t, err, "the connection outlived the balancer")
}
