package grpcdrain_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
)

const (
	// roundRobinHealthChecked is the service config of a client that
	// balances over every address and watches each one's health
	// (https://github.com/grpc/grpc/blob/master/doc/health-checking.md).
	roundRobinHealthChecked = `{"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}}`
	// loadWorkers is the number of concurrent callers.
	loadWorkers = 4
	// maxCallsPerWorker bounds the load in count; stop bounds it in time.
	maxCallsPerWorker = 200_000
	// movedAwayStreak is how many answers in a row from the other server
	// show that the client stopped sending to the drained one.
	movedAwayStreak = 200
	// hangBound is how long plain GracefulStop gets before the test calls
	// it a hang; with the stream open it would wait forever, so a bound
	// longer than the load's own pace shows nothing more.
	hangBound = time.Second
	// rolloutBudget is the drain's budget in the rollout.
	rolloutBudget = 2 * time.Second
)

// TestRollout runs one server of two through its termination while a
// client with round_robin and client-side health checking keeps calling
// both, and one more client holds a server stream to it, as a watcher or
// subscriber would.
func TestRollout(t *testing.T) {
	t.Parallel()
	t.Run("trigger, delay, drain, exit: zero failed RPCs", func(t *testing.T) {
		t.Parallel()
		trig := make(trigger)
		a, d := startDrained(t, newService("a"), trig)
		b, _ := startDrained(t, newService("b"), nil)
		l, ticks := startRollout(t, a, b)

		close(trig)
		// The propagation delay: the health service tells the client that
		// "a" is NOT_SERVING and the client moves all its calls to "b",
		// while "a" still serves.
		l.armMovedAway()
		waitClosed(t, l.movedAway, "client moved away from the triggered server")

		// The stream never ends by itself: the drain ends it
		// the default lead (1 s) before its deadline.
		ctx, cancel := context.WithTimeout(context.Background(), rolloutBudget)
		defer cancel()
		require.NoError(t, d.Drain(ctx), "the drain must finish without forcing")
		l.finish(t)

		assert.Zero(t, l.failures.Load(), "failed unary RPCs, first: %v", l.firstErr())
		assert.Equal(t, codes.Unavailable, status.Code(waitErr(t, ticks, "stream")), "the stream must end with a status that says to go elsewhere")
		assert.Positive(t, l.served["a"].Load())
	})

	t.Run("endless streams end at the drain, finite ones complete: zero failed RPCs", func(t *testing.T) {
		t.Parallel()
		trig := make(trigger)
		svc := newService("a")
		svc.ticks, svc.chat = pageTicks, chatWatching
		a, d := startDrained(t, svc, trig, grpcdrain.WithEndlessStreams(testpb.Test_Chat_FullMethodName))
		b, _ := startDrained(t, newService("b"), nil)
		l := startLoad(t, dialRoundRobin(t, a.addr, b.addr))
		l.waitServed(t, map[string]int64{"a": 20, "b": 20})
		cc := dialServer(t, a)
		var endless []<-chan error
		for range endlessStreams {
			endless = append(endless, openChat(t, cc, svc))
		}

		close(trig)
		l.armMovedAway()
		waitClosed(t, l.movedAway, "client moved away from the triggered server")
		// A Page opened at the end of the delay, by a client that does not
		// balance by health (pick_first behind a Service).
		page, pageStart := startPage(t, cc)

		ctx, cancel := context.WithTimeout(context.Background(), endlessBudget)
		defer cancel()
		start := time.Now()
		require.NoError(t, d.Drain(ctx), "the drain must finish without forcing")
		took := time.Since(start)
		l.finish(t)

		pageLeft := (pageTicks-1)*finiteInterval - start.Sub(pageStart)
		t.Logf("drain took %v, %v after the end of the Page stream in flight", took, took-pageLeft)
		assert.Zero(t, l.failures.Load(), "failed unary RPCs, first: %v", l.firstErr())
		r := waitResult(t, page)
		assert.NoError(t, r.err, "the finite stream must complete")
		assert.Equal(t, pageTicks, r.got, "the finite stream must not be truncated")
		// In real time on a busy machine the drain's end is only bounded:
		// it must not wait for the lead before its deadline, as it would
		// for an endless stream not named. The exact moment, the end of
		// the finite stream, is checked on a fake clock
		// (TestEndlessStreamsEndAtTheDrain).
		assert.Less(t, took, endlessBudget-streamEndLead, "the drain must end with the finite stream, not wait for the lead")
		for i, rpcErr := range endless {
			err := waitErr(t, rpcErr, "endless stream")
			assert.Equal(t, codes.Unavailable, status.Code(err), "endless stream %d: %v", i, err)
		}
	})

	t.Run("plain GracefulStop at SIGTERM: failures or a hang", func(t *testing.T) {
		t.Parallel()
		a := startPlain(t, newService("a"))
		b := startPlain(t, newService("b"))
		l, ticks := startRollout(t, a, b)

		stopped := make(chan struct{})
		go func() {
			a.srv.GracefulStop()
			close(stopped)
		}()
		hung := false
		select {
		case <-stopped:
		case <-time.After(hangBound):
			hung = true
			a.srv.Stop()
			waitClosed(t, stopped, "GracefulStop returned after Stop")
		}
		l.finish(t)

		streamErr := waitErr(t, ticks, "stream")
		t.Logf("hung=%v unary failures=%d (first: %v) stream: %v", hung, l.failures.Load(), l.firstErr(), streamErr)
		assert.True(t, hung || l.failures.Load() > 0 || streamErr != nil,
			"plain GracefulStop neither hung nor failed an RPC: the scenario no longer shows what the package is for")
	})
}

// startRollout starts the load over a and b and a stream to a, and returns
// once both servers have answered calls and the stream is open.
func startRollout(t *testing.T, a, b *server) (*load, <-chan error) {
	t.Helper()
	l := startLoad(t, dialRoundRobin(t, a.addr, b.addr))
	l.waitServed(t, map[string]int64{"a": 20, "b": 20})
	return l, openTicks(t, dialServer(t, a), a.svc)
}

// dialRoundRobin connects to every address with round_robin and
// client-side health checking, through a manual resolver, without retries.
func dialRoundRobin(t *testing.T, addrs ...string) *grpc.ClientConn {
	t.Helper()
	r := manual.NewBuilderWithScheme("rollout")
	var state resolver.State
	for _, addr := range addrs {
		state.Endpoints = append(state.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: addr}}})
	}
	r.InitialState(state)
	cc, err := grpc.NewClient(r.Scheme()+":///rollout", grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(roundRobinHealthChecked), grpc.WithDisableRetry())
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// load keeps calling Call from loadWorkers goroutines until finish.
type load struct {
	served   map[string]*atomic.Int64 // answers per server name
	failures atomic.Int64
	mu       sync.Mutex
	errs     []error

	armed     atomic.Bool
	streak    atomic.Int64 // answers in a row from "b" since armed
	movedAway chan struct{}
	moveOnce  sync.Once

	stop chan struct{}
	wg   sync.WaitGroup
}

func startLoad(t *testing.T, cc *grpc.ClientConn) *load {
	l := &load{
		served:    map[string]*atomic.Int64{"a": new(atomic.Int64), "b": new(atomic.Int64)},
		movedAway: make(chan struct{}),
		stop:      make(chan struct{}),
	}
	client := testpb.NewTestClient(cc)
	for range loadWorkers {
		l.wg.Go(func() { l.work(client) })
	}
	t.Cleanup(l.halt)
	return l
}

func (l *load) work(client testpb.TestClient) {
	for range maxCallsPerWorker {
		select {
		case <-l.stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		resp, err := client.Call(ctx, &testpb.CallRequest{DelayMs: 1})
		cancel()
		if err != nil {
			l.failures.Add(1)
			l.mu.Lock()
			l.errs = append(l.errs, err)
			l.mu.Unlock()
			continue
		}
		l.served[resp.Server].Add(1)
		l.record(resp.Server)
	}
}

func (l *load) record(server string) {
	if !l.armed.Load() {
		return
	}
	if server != "b" {
		l.streak.Store(0)
		return
	}
	if l.streak.Add(1) >= movedAwayStreak {
		l.moveOnce.Do(func() { close(l.movedAway) })
	}
}

// armMovedAway starts counting answers from "b" in a row.
func (l *load) armMovedAway() {
	l.streak.Store(0)
	l.armed.Store(true)
}

// waitServed waits until each server has answered at least the given
// number of calls.
func (l *load) waitServed(t *testing.T, want map[string]int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		for name, n := range want {
			if l.served[name].Load() < n {
				return false
			}
		}
		return true
	}, waitBound, 5*time.Millisecond, "servers did not answer %v calls", want)
}

// finish lets "b" answer more calls after the drain, then stops the load.
func (l *load) finish(t *testing.T) {
	t.Helper()
	l.waitServed(t, map[string]int64{"b": l.served["b"].Load() + 100})
	l.halt()
}

func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *load) firstErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) == 0 {
		return nil
	}
	return l.errs[0]
}
