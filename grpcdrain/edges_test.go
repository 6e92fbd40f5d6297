package grpcdrain_test

import (
	"context"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
)

// TestDrainReturnsByTheDeadlineWithWaitForHandlers checks, on the fake
// clock of a synctest bubble over an in-memory listener, that a forced
// drain returns by its deadline (plus the short wait for Stop) even when
// grpc.WaitForHandlers(true) makes the server's Stop wait for every
// handler, one of which ignores its context.
func TestDrainReturnsByTheDeadlineWithWaitForHandlers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := newService("a")
		s, d := startDrainedMem(t, svc, nil, grpcdrain.WithServerOptions(grpc.WaitForHandlers(true)))
		rpc := openCall(-1)(t, dialServer(t, s), svc)

		ctx, cancel := context.WithTimeout(context.Background(), forcedBudget)
		defer cancel()
		start := time.Now()
		err := d.Drain(ctx)
		took := time.Since(start)
		close(svc.release)
		require.ErrorIs(t, err, grpcdrain.ErrForced)
		// Drain waits for Stop 100 ms at most.
		assert.Equal(t, forcedBudget+100*time.Millisecond, took)
		assert.Error(t, waitErr(t, rpc, "call"))
		waitClosed(t, d.Stopped(), "GracefulStop returned")
	})
}

// TestMaxConnectionAgeExtremes checks ages at both ends of the range: one
// too small for grpc-go's jitter (it crashed the process at the first
// connection) is clamped to the floor, so connections are recycled and
// calls succeed, and one too large for the jitter to be added without
// overflowing never recycles a connection.
func TestMaxConnectionAgeExtremes(t *testing.T) {
	t.Parallel()
	// Every age under the floor is clamped alike (TestClampAge): one
	// shows the clamp reaches the server.
	s := serveWithAge(t, 1)
	callUntilRecycled(t, s.addr, s.counted)
	s.drain(t)

	// Every age past the jitter's bound is clamped alike (TestClampAge).
	s = serveWithAge(t, math.MaxInt64)
	// grpc-go adds a jitter of ±10 % to each connection's age: with an
	// overflow, about half of the connections would be recycled at once,
	// before their second call.
	const clients = 12
	for range clients {
		client := testpb.NewTestClient(dial(t, s.addr))
		for range 2 {
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			_, err := client.Call(ctx, &testpb.CallRequest{DelayMs: 1})
			cancel()
			require.NoError(t, err)
		}
	}
	assert.EqualValues(t, clients, s.counted.accepted.Load(), "age %v: connections were recycled", int64(math.MaxInt64))
	s.drain(t)
}
