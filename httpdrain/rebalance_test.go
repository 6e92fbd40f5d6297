package httpdrain_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/lameduck/lameduck/internal/loadtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The rolling restart of TestMaxConnectionAgeRebalances.
const (
	// copies is the number of servers, as a Deployment's replicas.
	copies = 3
	// keepAliveClients each keep one connection and send requests on it
	// one after another, rebalanceGap apart.
	keepAliveClients = 30
	rebalanceGap     = 10 * time.Millisecond
	// rebalanceLag is how late the load balancer learns that a server
	// failed readiness; rebalanceDelay is the propagation delay.
	rebalanceLag   = 50 * time.Millisecond
	rebalanceDelay = 150 * time.Millisecond
	// rebalanceAge is the connection age under test, and measureFor how
	// long the requests are counted after the rollout.
	rebalanceAge = 300 * time.Millisecond
	measureFor   = 1500 * time.Millisecond
	// rebalanceRequests is the request limit under test: about as many
	// as a client sends in rebalanceAge.
	rebalanceRequests = 30
)

// counted serves echo and counts the requests it served.
type counted struct {
	*backend
	served atomic.Int64
}

func startCounted(t *testing.T, opts ...httpdrain.Option) *counted {
	c := new(counted)
	c.backend = startBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.served.Add(1)
		echo(w, r)
	}), opts...)
	return c
}

// TestMaxConnectionAgeRebalances replaces 3 servers one at a time, as a
// Deployment's rolling update does (maxSurge 1: the new copy is up before
// the old one stops), behind a load balancer that picks a server per
// connection, under keep-alive load. It then counts each new copy's share
// of the requests. Without an age or a request limit, the connections
// moved off each stopped server stay where they land; with either, they
// spread evenly. It runs only with LAMEDUCK_STATS=1 (see statsOnly);
// TestMaxConnectionAge and TestMaxConnectionRequests test the recycling.
func TestMaxConnectionAgeRebalances(t *testing.T) {
	statsOnly(t)
	even := func(t *testing.T, shares []float64) {
		for i, s := range shares {
			assert.InDelta(t, 1.0/copies, s, 0.1, "copy %d's share", i+1)
		}
	}
	tests := []struct {
		name  string
		opts  []httpdrain.Option
		check func(t *testing.T, shares []float64)
	}{
		{"no recycling", nil, func(t *testing.T, shares []float64) {
			assert.Greater(t, slices.Max(shares)-slices.Min(shares), 0.15, "without recycling the shares should be uneven")
		}},
		{"age " + rebalanceAge.String(), []httpdrain.Option{httpdrain.WithMaxConnectionAge(rebalanceAge)}, even},
		{fmt.Sprintf("%d requests per connection", rebalanceRequests), []httpdrain.Option{httpdrain.WithMaxConnectionRequests(rebalanceRequests)}, even},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := make([]*counted, copies)
			addrs := make([]string, copies)
			for i := range old {
				old[i] = startCounted(t, tt.opts...)
				addrs[i] = old[i].addr
			}
			p := startProxy(t, rebalanceLag, addrs...)
			l := startKeepAlive(t, "http://"+p.Addr()+"/")
			l.waitSent(t, keepAliveClients*10)

			fresh := make([]*counted, copies)
			for i := range fresh {
				fresh[i] = startCounted(t, tt.opts...)
				p.SetReady(fresh[i].addr, true)
				// The old copy fails readiness at the trigger, keeps
				// serving through the propagation delay, then drains.
				p.SetReady(old[i].addr, false)
				close(old[i].trigger)
				time.Sleep(rebalanceDelay)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				require.NoError(t, old[i].d.Drain(ctx), "drain of old copy %d", i+1)
				cancel()
			}

			before := servedBy(fresh)
			time.Sleep(measureFor)
			after := servedBy(fresh)
			res := l.stop()
			shares := make([]float64, copies)
			var total int64
			for i := range fresh {
				total += after[i] - before[i]
			}
			require.Positive(t, total)
			for i := range fresh {
				shares[i] = float64(after[i]-before[i]) / float64(total)
			}
			t.Logf("%s: shares of copies 1, 2, 3 (in the order they came up): %s of %d requests; %d ok, %d failed %v",
				tt.name, percents(shares), total, res.OK, res.Failed(), res.First())
			assert.Zero(t, res.Failed(), "failed requests")
			tt.check(t, shares)
		})
	}
}

func servedBy(cs []*counted) []int64 {
	n := make([]int64, len(cs))
	for i, c := range cs {
		n[i] = c.served.Load()
	}
	return n
}

func percents(shares []float64) string {
	s := make([]string, len(shares))
	for i, f := range shares {
		s[i] = fmt.Sprintf("%.0f%%", 100*f)
	}
	return strings.Join(s, " ")
}

// keepAlive is a closed-loop load: clients, each with its own
// connection, send POSTs one after another, rebalanceGap apart, until stop.
type keepAlive struct {
	res  loadtest.Tally
	halt chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func startKeepAlive(t *testing.T, url string) *keepAlive {
	return startKeepAliveN(t, url, keepAliveClients)
}

func startKeepAliveN(t *testing.T, url string, clients int) *keepAlive {
	l := &keepAlive{halt: make(chan struct{})}
	for range clients {
		tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}
		client := &http.Client{Transport: tr, Timeout: waitLimit}
		l.wg.Go(func() {
			defer tr.CloseIdleConnections()
			// Bounded in count; stop bounds it in time.
			for i := range 100_000 {
				select {
				case <-l.halt:
					return
				case <-time.After(rebalanceGap):
				}
				post(client, url, fmt.Sprint(i), &l.res)
			}
		})
	}
	t.Cleanup(func() { l.stop() })
	return l
}

// waitSent waits until n requests have succeeded.
func (l *keepAlive) waitSent(t *testing.T, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return int64(l.res.Result().OK) >= n }, waitLimit, time.Millisecond)
}

// stop ends the load and returns its result.
func (l *keepAlive) stop() *loadtest.Result {
	l.once.Do(func() { close(l.halt) })
	l.wg.Wait()
	return l.res.Result()
}
