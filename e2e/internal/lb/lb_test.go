package lb

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestHealthCheckTakesNodeOut runs HAProxy in front of two "nodes" on
// loopback, each a traffic port and a health port: once the first node's
// health check fails, new connections go to the second only.
func TestHealthCheckTakesNodeOut(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Skip("lb: needs haproxy")
	}
	lo := netip.MustParseAddr("127.0.0.1")
	// Both nodes share 127.0.0.1, so they share one NodePort: the first
	// node's health decides which of them HAProxy uses; the traffic
	// server counts connections.
	traffic, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns atomic.Int64
	trafficSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}}
	go func() { _ = trafficSrv.Serve(traffic) }()
	defer trafficSrv.Close()
	var healthy atomic.Bool
	healthy.Store(true)
	health, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var checks atomic.Int64
	healthSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		checks.Add(1)
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	go func() { _ = healthSrv.Serve(health) }()
	defer healthSrv.Close()
	front, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	listen := netip.MustParseAddrPort(front.Addr().String())
	front.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Start(ctx, t.TempDir(), Config{Interval: 100 * time.Millisecond}, []Frontend{{
		Name: "svc", Listen: listen, Nodes: []netip.Addr{lo},
		NodePort: traffic.Addr().(*net.TCPAddr).Port, HealthCheckNodePort: health.Addr().(*net.TCPAddr).Port,
	}})
	require.NoError(t, err)
	defer func() { assert.NoError(t, l.Close()) }()
	get := func() error {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		resp, err := c.Get("http://" + listen.String())
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return err
	}
	require.Eventually(t, func() bool { return get() == nil }, 10*time.Second, 50*time.Millisecond, "served while healthy")
	require.Eventually(t, func() bool { return checks.Load() >= 3 }, 10*time.Second, 50*time.Millisecond, "health checked")
	healthy.Store(false)
	require.Eventually(t, func() bool { return get() != nil }, 10*time.Second, 50*time.Millisecond, "no server once the only node is unhealthy")
	before := conns.Load()
	assert.Error(t, get())
	assert.Equal(t, before, conns.Load(), "no connection reaches a node taken out")
}
