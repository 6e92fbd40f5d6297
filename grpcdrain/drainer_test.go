package grpcdrain_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
)

func TestNewRejectsInvalidOptions(t *testing.T) {
	tests := []struct {
		name    string
		opt     grpcdrain.Option
		wantErr string
	}{
		{"negative stream grace", grpcdrain.WithStreamGrace(-time.Second), "grpcdrain: stream grace -1s is negative"},
		{"negative max connection age", grpcdrain.WithMaxConnectionAge(-time.Second), "grpcdrain: max connection age -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := grpcdrain.New(nil, tt.opt)
			require.ErrorContains(t, err, tt.wantErr)
			assert.Nil(t, d)
		})
	}
}

// TestTriggerLatchesNotServing checks that the trigger alone puts every
// service NOT_SERVING, for good, while RPCs are still served.
func TestTriggerLatchesNotServing(t *testing.T) {
	trigger := make(chan struct{})
	s, d := startDrained(t, newService("a"), trigger)
	s.health.SetServingStatus("test.v1.Test", healthgrpc.HealthCheckResponse_SERVING)
	cc := dial(t, s.addr)
	hc := healthgrpc.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()

	watch, err := hc.Watch(ctx, &healthgrpc.HealthCheckRequest{})
	require.NoError(t, err)
	first, err := watch.Recv()
	require.NoError(t, err)
	require.Equal(t, healthgrpc.HealthCheckResponse_SERVING, first.Status)

	close(trigger)
	next, err := watch.Recv()
	require.NoError(t, err)
	assert.Equal(t, healthgrpc.HealthCheckResponse_NOT_SERVING, next.Status)

	// A late update cannot put the server back in rotation.
	s.health.SetServingStatus("", healthgrpc.HealthCheckResponse_SERVING)
	for _, service := range []string{"", "test.v1.Test"} {
		resp, err := hc.Check(ctx, &healthgrpc.HealthCheckRequest{Service: service})
		require.NoError(t, err)
		assert.Equal(t, healthgrpc.HealthCheckResponse_NOT_SERVING, resp.Status, "service %q", service)
	}
	// The server still serves.
	resp, err := testpb.NewTestClient(cc).Call(ctx, &testpb.CallRequest{})
	require.NoError(t, err)
	assert.Equal(t, "a", resp.Server)

	require.NoError(t, d.Drain(ctx))
}

func TestDrainBeforeAttach(t *testing.T) {
	d, err := grpcdrain.New(nil)
	require.NoError(t, err)
	require.ErrorIs(t, d.Drain(context.Background()), grpcdrain.ErrNotAttached)
}

func TestAttachMisuse(t *testing.T) {
	d, err := grpcdrain.New(nil)
	require.NoError(t, err)
	assert.PanicsWithValue(t, "grpcdrain: Attach with a nil server", func() { d.Attach(nil, nil) })
	srv := grpc.NewServer()
	d.Attach(srv, nil)
	assert.PanicsWithValue(t, "grpcdrain: Attach called twice", func() { d.Attach(srv, nil) })
	require.NoError(t, d.Drain(context.Background()))
}

func TestDrainTwiceReturnsTheFirstResult(t *testing.T) {
	svc := newService("a")
	s, d := startDrained(t, svc, nil)
	rpc := openCall(-1)(t, dial(t, s.addr), svc)

	ctx, cancel := context.WithTimeout(context.Background(), forcedBudget)
	defer cancel()
	first := d.Drain(ctx)
	require.ErrorIs(t, first, grpcdrain.ErrForced)
	assert.Equal(t, first, d.Drain(context.Background()))

	close(svc.release)
	assert.Error(t, waitErr(t, rpc, "call"))
	waitClosed(t, d.Stopped(), "GracefulStop returned")
}

func TestInFlightCountsHandlers(t *testing.T) {
	svc := newService("a")
	s, d := startDrained(t, svc, nil)
	cc := dial(t, s.addr)
	call := openCall(-1)(t, cc, svc)
	ticks := openTicks(t, cc, svc)
	assert.EqualValues(t, 2, d.InFlight())

	close(svc.release)
	require.NoError(t, waitErr(t, call, "call"))
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	require.NoError(t, d.Drain(ctx))
	require.NoError(t, waitErr(t, ticks, "stream"))
	assert.Zero(t, d.InFlight())
}

// TestMaxConnectionAge checks that the option reaches the server: the
// client's connection is replaced while it keeps calling.
func TestMaxConnectionAge(t *testing.T) {
	d, err := grpcdrain.New(nil, grpcdrain.WithMaxConnectionAge(100*time.Millisecond))
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	counted := &countingListener{Listener: lis}
	srv := grpc.NewServer(d.ServerOptions()...)
	testpb.RegisterTestServer(srv, newService("a"))
	d.Attach(srv, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(counted) }()

	client := testpb.NewTestClient(dial(t, lis.Addr().String()))
	deadline := time.Now().Add(waitBound)
	for i := 0; counted.accepted.Load() < 2 && i < 100_000 && time.Now().Before(deadline); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		_, err := client.Call(ctx, &testpb.CallRequest{DelayMs: 1})
		cancel()
		require.NoError(t, err, "an aged connection must not fail a call")
	}
	assert.GreaterOrEqual(t, counted.accepted.Load(), int64(2), "connection was not recycled")

	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	require.NoError(t, d.Drain(ctx))
	require.NoError(t, <-served)
}

type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}
