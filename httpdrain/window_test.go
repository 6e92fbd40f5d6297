package httpdrain_test

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	// movingClients is how many keep-alive clients move from the drained
	// server to the other one.
	movingClients = 50
	// burstSpan is the span in which new connections are counted.
	burstSpan = 100 * time.Millisecond
	// spreadWindow is the close window under test, within spreadDelay,
	// the propagation delay.
	spreadWindow = 1500 * time.Millisecond
	spreadDelay  = 2 * time.Second
)

// connTimeline records when a server accepted each connection.
type connTimeline struct {
	mu sync.Mutex
	at []time.Time
}

func (tl *connTimeline) hook(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		tl.mu.Lock()
		tl.at = append(tl.at, time.Now())
		tl.mu.Unlock()
	}
}

func (tl *connTimeline) len() int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return len(tl.at)
}

// peak returns the most connections accepted within any span.
func (tl *connTimeline) peak(span time.Duration) int {
	tl.mu.Lock()
	at := slices.Clone(tl.at)
	tl.mu.Unlock()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	best, j := 0, 0
	for i := range at {
		for at[i].Sub(at[j]) >= span {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// TestLameDuckWindowSpreadsReconnects measures the burst of new
// connections that the remaining server gets when keep-alive clients leave
// the triggered one: the most connections accepted within any burstSpan,
// with and without a close window. The load balancer stops sending new
// connections to the triggered server at once, so that every reconnect
// lands on the remaining one. It runs only with LAMEDUCK_STATS=1 (see
// statsOnly); TestLameDuckWindow tests the turns.
func TestLameDuckWindowSpreadsReconnects(t *testing.T) {
	statsOnly(t)
	tests := []struct {
		window time.Duration
		check  func(t *testing.T, peak int)
	}{
		{0, func(t *testing.T, peak int) {
			assert.GreaterOrEqual(t, peak, movingClients/2, "told at once, the clients should reconnect in a burst")
		}},
		{spreadWindow, func(t *testing.T, peak int) {
			assert.LessOrEqual(t, peak, movingClients/3, "spread over the window, the clients should reconnect a few at a time")
		}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("window %v", tt.window), func(t *testing.T) {
			from := startBackend(t, http.HandlerFunc(echo), httpdrain.WithLameDuckWindow(tt.window))
			opened := new(connTimeline)
			to := serveWith(t, &http.Server{Handler: http.HandlerFunc(echo), ConnState: opened.hook})
			p := startProxy(t, 0, from.addr)
			l := startKeepAliveN(t, "http://"+p.Addr()+"/", movingClients)
			l.waitSent(t, 2*movingClients)

			p.SetReady(to.addr, true)
			p.SetReady(from.addr, false)
			close(from.trigger)
			start := time.Now()
			require.Eventually(t, func() bool { return opened.len() >= movingClients }, spreadDelay, time.Millisecond,
				"every client should have moved within the propagation delay")
			moved := time.Since(start)
			require.NoError(t, waitErr(t, from.drainAsync(5*time.Second)))
			res := l.stop()

			peak := opened.peak(burstSpan)
			t.Logf("window %v: %d clients moved in %v, at most %d within %v; %d requests ok, %d failed %v",
				tt.window, movingClients, moved.Round(time.Millisecond), peak, burstSpan, res.OK, res.Failed(), res.First())
			assert.Zero(t, res.Failed(), "failed requests")
			assert.Equal(t, movingClients, opened.len(), "each client reconnects once")
			tt.check(t, peak)
		})
	}
}
