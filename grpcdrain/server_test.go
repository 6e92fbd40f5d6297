package grpcdrain_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
)

func TestMisuse(t *testing.T) {
	tests := []struct {
		name      string
		call      func()
		wantPanic string
	}{
		{"nil lifecycle", func() { grpcdrain.NewServer(nil) }, "grpcdrain: NewServer with a nil Lifecycle: pass the shutdown sequence (*shutdown.Sequence)"},
		{"nil server option", func() { grpcdrain.WithServerOptions(grpc.MaxConcurrentStreams(1), nil) }, "grpcdrain: WithServerOptions: option 1 is nil: pass only options made by the grpc package"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.PanicsWithValue(t, tt.wantPanic, tt.call)
		})
	}
}

// TestServerOptionsComeAfter checks that the options of WithServerOptions
// reach the server, and that their interceptors run after the package's,
// so that the in-flight count covers them.
func TestServerOptionsComeAfter(t *testing.T) {
	t.Parallel()
	var seen atomic.Int64
	var d *grpcdrain.Server
	count := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		seen.Store(d.InFlight())
		return handler(ctx, req)
	}
	s, d := startDrained(t, newService("a"), nil, grpcdrain.WithServerOptions(grpc.ChainUnaryInterceptor(count)))
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	_, err := testpb.NewTestClient(dialServer(t, s)).Call(ctx, &testpb.CallRequest{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, seen.Load(), "in flight as seen by the later interceptor")
}

// TestTriggerLatchesNotServing checks that the trigger alone puts every
// service NOT_SERVING, for good, while RPCs are still served, on loopback
// in plaintext and over TLS.
func TestTriggerLatchesNotServing(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			testTriggerLatchesNotServing(t, tr)
		})
	}
}

func testTriggerLatchesNotServing(t *testing.T, tr transport) {
	trig := make(trigger)
	s, d := tr.start(t, newService("a"), trig)
	s.health.SetServingStatus("test.v1.Test", healthgrpc.HealthCheckResponse_SERVING)
	cc := dialServer(t, s)
	hc := healthgrpc.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()

	watch, err := hc.Watch(ctx, &healthgrpc.HealthCheckRequest{})
	require.NoError(t, err)
	first, err := watch.Recv()
	require.NoError(t, err)
	require.Equal(t, healthgrpc.HealthCheckResponse_SERVING, first.Status)

	close(trig)
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

func TestDrainTwiceReturnsTheFirstResult(t *testing.T) {
	synctest.Test(t, testDrainTwice)
}

// testDrainTwice runs in a synctest bubble: the forced drain's budget
// passes on its fake clock.
func testDrainTwice(t *testing.T) {
	svc := newService("a")
	s, d := startDrainedMem(t, svc, nil)
	rpc := openCall(-1)(t, dialServer(t, s), svc)

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
	t.Parallel()
	svc := newService("a")
	s, d := startDrained(t, svc, nil, grpcdrain.WithEndlessStreams(testpb.Test_Ticks_FullMethodName))
	cc := dialServer(t, s)
	call := openCall(-1)(t, cc, svc)
	ticks := openTicks(t, cc, svc)
	assert.EqualValues(t, 2, d.InFlight())

	close(svc.release)
	require.NoError(t, waitErr(t, call, "call"))
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	require.NoError(t, d.Drain(ctx))
	assert.Equal(t, codes.Unavailable, status.Code(waitErr(t, ticks, "stream")))
	assert.Zero(t, d.InFlight())
}

// TestMaxConnectionAge checks that the option reaches the server: the
// client's connection is replaced while it keeps calling.
func TestMaxConnectionAge(t *testing.T) {
	t.Parallel()
	s := serveWithAge(t, 100*time.Millisecond)
	callUntilRecycled(t, s.addr, s.counted)
	s.drain(t)
}

// ageServer is a server with a maximum connection age, on 127.0.0.1:0,
// that counts the connections it accepts.
type ageServer struct {
	d       *grpcdrain.Server
	addr    string
	counted *countingListener
	served  chan error
}

func serveWithAge(t *testing.T, age time.Duration) *ageServer {
	t.Helper()
	d := grpcdrain.NewServer(trigger(nil), grpcdrain.WithMaxConnectionAge(age))
	testpb.RegisterTestServer(d, newService("a"))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &ageServer{d: d, addr: lis.Addr().String(), counted: &countingListener{Listener: lis}, served: make(chan error, 1)}
	go func() { s.served <- d.Serve(s.counted) }()
	return s
}

// drain drains the server and checks that the drain and Serve return nil.
func (s *ageServer) drain(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	require.NoError(t, s.d.Drain(ctx))
	require.NoError(t, <-s.served)
}

// TestListenAndServe checks that ListenAndServe serves the address it is
// given until the drain, returns a listen error as it is, and does not
// listen once the drain has started.
func TestListenAndServe(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := busy.Addr().String()
	d := grpcdrain.NewServer(trigger(nil))
	var opErr *net.OpError
	require.ErrorAs(t, d.ListenAndServe(addr), &opErr, "the address is in use")
	require.NoError(t, busy.Close())

	testpb.RegisterTestServer(d, newService("a"))
	served := make(chan error, 1)
	go func() { served <- d.ListenAndServe(addr) }()
	client := testpb.NewTestClient(dial(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	// The client waits for the connection (WaitForReady) while
	// ListenAndServe starts listening.
	resp, err := client.Call(ctx, &testpb.CallRequest{}, grpc.WaitForReady(true))
	require.NoError(t, err)
	assert.Equal(t, "a", resp.Server)

	require.NoError(t, d.Drain(ctx))
	require.NoError(t, waitErr(t, served, "ListenAndServe"))
	assert.ErrorIs(t, d.ListenAndServe(addr), grpc.ErrServerStopped)
}

// callUntilRecycled calls the server at addr from one client until lis
// has accepted a second connection, and fails the test if a call fails or
// the connection is not recycled within waitBound.
func callUntilRecycled(t *testing.T, addr string, lis *countingListener) {
	t.Helper()
	client := testpb.NewTestClient(dial(t, addr))
	deadline := time.Now().Add(waitBound)
	for i := 0; lis.accepted.Load() < 2 && i < 100_000 && time.Now().Before(deadline); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		_, err := client.Call(ctx, &testpb.CallRequest{DelayMs: 1})
		cancel()
		require.NoError(t, err, "an aged connection must not fail a call")
	}
	assert.GreaterOrEqual(t, lis.accepted.Load(), int64(2), "connection was not recycled")
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
