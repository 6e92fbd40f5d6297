package main

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	reflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/examples/grpc/workpb"
	"github.com/lameduck/lameduck/examples/internal/proctest"
	"github.com/lameduck/lameduck/examples/internal/store"
	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// rpcTimeout bounds each call of the load.
const rpcTimeout = 20 * time.Second

// dial returns a client that does not retry: grpc.WithDisableRetry turns
// off retries, including the transparent retry of RPCs refused by a GOAWAY.
func dial(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDisableRetry(),
	}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { cc.Close() })
	return cc
}

// loadResult counts what clients saw.
type loadResult struct {
	ok   int
	errs []error
}

// load runs workers that each call Do(20ms) up to perWorker times,
// stopping at their first error or once stop is closed. It closes warm once
// warmAfter calls have been answered OK.
func load(client workpb.WorkClient, workers, perWorker, warmAfter int, warm chan<- struct{}, stop <-chan struct{}) loadResult {
	var (
		ok       atomic.Int64
		warmOnce sync.Once
		mu       sync.Mutex
		res      loadResult
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range perWorker {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
				_, err := client.Do(ctx, &workpb.DoRequest{DurationMs: 20})
				cancel()
				if err != nil {
					mu.Lock()
					res.errs = append(res.errs, err)
					mu.Unlock()
					return
				}
				if ok.Add(1) == int64(warmAfter) {
					warmOnce.Do(func() { close(warm) })
				}
			}
		})
	}
	wg.Wait()
	res.ok = int(ok.Load())
	return res
}

// watch opens a Watch stream and reports how it ended once it has.
func watch(t *testing.T, client workpb.WorkClient) <-chan watchEnd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), proctest.LoadTimeout)
	stream, err := client.Watch(ctx, &workpb.WatchRequest{})
	require.NoError(t, err)
	first, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, int64(1), first.GetSeq())
	end := make(chan watchEnd, 1)
	go func() {
		defer cancel()
		n := 1
		for {
			if _, err := stream.Recv(); err != nil {
				end <- watchEnd{events: n, err: err}
				return
			}
			n++
		}
	}()
	return end
}

type watchEnd struct {
	events int
	err    error
}

type terminated struct {
	code        int
	load        loadResult
	watch       watchEnd
	rows, lines int
}

// terminateUnderLoad starts the service, opens a Watch stream, loads it
// with Do calls, sends SIGTERM once warm and reports what happened.
func terminateUnderLoad(t *testing.T, bin string, workers, perWorker int, args ...string) terminated {
	t.Helper()
	p := proctest.Start(t, bin, args...)
	client := workpb.NewWorkClient(dial(t, p.Addr))
	watched := watch(t, client)

	warm, stop := make(chan struct{}), make(chan struct{})
	done := make(chan loadResult, 1)
	go func() { done <- load(client, workers, perWorker, workers*2, warm, stop) }()
	select {
	case <-warm:
	case <-time.After(proctest.LoadTimeout):
		t.Fatal("load did not warm up")
	}
	require.NoError(t, p.Signal(syscall.SIGTERM))
	lb := time.AfterFunc(proctest.LBCatchUp, func() { close(stop) })
	defer lb.Stop()

	var r terminated
	r.code = p.WaitExit(t, proctest.ExitTimeout)
	select {
	case r.load = <-done:
	case <-time.After(proctest.LoadTimeout):
		t.Fatal("load did not end after the process exited")
	}
	select {
	case r.watch = <-watched:
	case <-time.After(proctest.LoadTimeout):
		t.Fatal("Watch did not end after the process exited")
	}
	var err error
	r.rows, r.lines, err = store.Count(p.DataDir)
	require.NoError(t, err)
	t.Logf("exit=%d ok=%d errors=%d (%v) watch=%d events, %v rows=%d lines=%d",
		r.code, r.load.ok, len(r.load.errs), errors.Join(r.load.errs...), r.watch.events, r.watch.err, r.rows, r.lines)
	return r
}

func TestLameduckLosesNothing(t *testing.T) {
	bin := proctest.Build(t, ".")
	r := terminateUnderLoad(t, bin, 8, 100, proctest.Flags()...)
	assert.Equal(t, 0, r.code)
	assert.Greater(t, r.load.ok, 16)
	assert.Empty(t, r.load.errs, "no RPC failed")
	assert.Equal(t, r.load.ok, r.rows, "rows = Do calls answered OK")
	assert.Equal(t, r.load.ok, r.lines, "journal lines = Do calls answered OK")
	assert.ErrorIs(t, r.watch.err, io.EOF, "the drain ends Watch streams cleanly")
}

// TestShutdownStrategy runs the same load against the common pattern:
// what is acknowledged is kept, but calls sent after SIGTERM fail, and
// GracefulStop waits for the Watch stream until the grace period is over,
// and Stop then cuts it.
func TestShutdownStrategy(t *testing.T) {
	bin := proctest.Build(t, ".")
	r := terminateUnderLoad(t, bin, 8, 100, proctest.Flags("-strategy", "shutdown")...)
	assert.Equal(t, 0, r.code)
	assert.Equal(t, r.load.ok, r.rows)
	assert.Equal(t, r.load.ok, r.lines)
	assert.NotEmpty(t, r.load.errs, "GracefulStop closes the listener at SIGTERM")
	assert.Equal(t, codes.Unavailable, status.Code(r.watch.err), "Stop cuts the Watch stream: %v", r.watch.err)
}

func TestNoneStrategyLosesJournalLines(t *testing.T) {
	bin := proctest.Build(t, ".")
	// At most 80 calls: their journal lines (under 40 bytes each) fit in the
	// 4 KiB buffer, so none reaches the file unless the exit path runs.
	r := terminateUnderLoad(t, bin, 8, 10, proctest.Flags("-strategy", "none")...)
	assert.Equal(t, -1, r.code, "SIGTERM kills a process that does not handle it")
	assert.Greater(t, r.load.ok, 0)
	assert.Less(t, r.lines, r.load.ok, "acknowledged journal lines are lost")
	assert.GreaterOrEqual(t, r.rows, r.load.ok, "committed rows survive the kill (WAL)")
}

// TestHealthAndReflection checks the health service through a lame-duck
// phase: NOT_SERVING from the trigger while Do still works, and that
// reflection lists the services.
func TestHealthAndReflection(t *testing.T) {
	bin := proctest.Build(t, ".")
	// A delay far longer than the test: the process is killed at cleanup.
	p := proctest.Start(t, bin, "-grace", "60s", "-delay", "50s")
	cc := dial(t, p.Addr)
	health := healthgrpc.NewHealthClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), proctest.LoadTimeout)
	defer cancel()

	for _, svc := range []string{"", workpb.Work_ServiceDesc.ServiceName} {
		resp, err := health.Check(ctx, &healthgrpc.HealthCheckRequest{Service: svc})
		require.NoError(t, err)
		assert.Equal(t, healthgrpc.HealthCheckResponse_SERVING, resp.GetStatus(), "service %q", svc)
	}
	assert.ElementsMatch(t,
		[]string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection", workpb.Work_ServiceDesc.ServiceName},
		listServices(ctx, t, cc))

	hw, err := health.Watch(ctx, &healthgrpc.HealthCheckRequest{})
	require.NoError(t, err)
	first, err := hw.Recv()
	require.NoError(t, err)
	require.Equal(t, healthgrpc.HealthCheckResponse_SERVING, first.GetStatus())

	require.NoError(t, p.Signal(syscall.SIGTERM))
	next, err := hw.Recv()
	require.NoError(t, err)
	assert.Equal(t, healthgrpc.HealthCheckResponse_NOT_SERVING, next.GetStatus())
	resp, err := workpb.NewWorkClient(cc).Do(ctx, &workpb.DoRequest{})
	require.NoError(t, err, "a lame duck still serves")
	assert.Positive(t, resp.GetId())

	_, err = workpb.NewWorkClient(cc).Do(ctx, &workpb.DoRequest{DurationMs: -1})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
}

func listServices(ctx context.Context, t *testing.T, cc *grpc.ClientConn) []string {
	t.Helper()
	stream, err := reflectiongrpc.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.Send(&reflectiongrpc.ServerReflectionRequest{
		MessageRequest: &reflectiongrpc.ServerReflectionRequest_ListServices{},
	}))
	resp, err := stream.Recv()
	require.NoError(t, err)
	require.NoError(t, stream.CloseSend())
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names
}

// TestLameduckBoundsAStuckCall: a call that would outlive the grace period
// cannot hold the process until the kubelet's SIGKILL. The drain is forced
// at its deadline, the later steps still run, and the stuck call, never
// answered OK, is not recorded.
func TestLameduckBoundsAStuckCall(t *testing.T) {
	bin := proctest.Build(t, ".")
	p := proctest.Start(t, bin, proctest.Flags()...)
	sent := &firstHeader{sent: make(chan struct{})}
	client := workpb.NewWorkClient(dial(t, p.Addr, grpc.WithStatsHandler(sent)))
	ctx, cancel := context.WithTimeout(context.Background(), proctest.LoadTimeout)
	defer cancel()

	stuck := make(chan error, 1)
	go func() {
		_, err := client.Do(ctx, &workpb.DoRequest{DurationMs: time.Hour.Milliseconds()})
		stuck <- err
	}()
	// The calls share one HTTP/2 connection, whose frames go out in the order
	// they were queued and which the server reads in order: once the stuck
	// call's headers are queued, the answer to a later call means the server
	// has the stuck call in flight.
	select {
	case <-sent.sent:
	case <-time.After(proctest.LoadTimeout):
		t.Fatal("stuck call not sent")
	}
	const ok = 3
	for range ok {
		_, err := client.Do(ctx, &workpb.DoRequest{})
		require.NoError(t, err)
	}

	k := shutdowntest.Kubelet{GracePeriod: proctest.Grace, Logf: t.Logf}
	r := k.Terminate(ctx, p)
	assert.False(t, r.Killed, "the process exits before the grace period is over")
	assert.Equal(t, 1, r.ExitCode, "a forced drain is reported")
	assert.Contains(t, p.Stderr(), "grpcdrain:")

	select {
	case err := <-stuck:
		assert.Equal(t, codes.Unavailable, status.Code(err), "the stuck call is cut: %v", err)
	case <-time.After(proctest.LoadTimeout):
		t.Fatal("stuck call did not end")
	}
	rows, lines, err := store.Count(p.DataDir)
	require.NoError(t, err)
	assert.Equal(t, ok, rows)
	assert.Equal(t, ok, lines, "the journal step ran after the forced drain")
}

// firstHeader is a client stats handler that closes sent once the headers of
// the connection's first RPC have been queued.
type firstHeader struct {
	once sync.Once
	sent chan struct{}
}

func (h *firstHeader) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (h *firstHeader) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (h *firstHeader) HandleConn(context.Context, stats.ConnStats) {}
func (h *firstHeader) HandleRPC(_ context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.OutHeader); ok {
		h.once.Do(func() { close(h.sent) })
	}
}
