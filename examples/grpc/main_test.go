package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	reflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/lameduck/lameduck/examples/grpc/workpb"
	"github.com/lameduck/lameduck/examples/internal/proctest"
	"github.com/lameduck/lameduck/examples/internal/selfsigned"
	"github.com/lameduck/lameduck/examples/internal/store"
	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { proctest.RemoveBuilds() }))
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

// dialTLS returns a client like dial's over TLS, trusting only cert.
func dialTLS(t *testing.T, addr string, cert selfsigned.Cert, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	// credentials.NewTLS offers ALPN "h2" itself.
	cc, err := grpc.NewClient("passthrough:///"+addr, append([]grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(cert.ClientConfig())),
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
// with Do calls, sends SIGTERM once warm and reports what happened. With
// cert, the service and the client speak TLS.
func terminateUnderLoad(t *testing.T, bin string, cert *selfsigned.Cert, workers, perWorker int, args ...string) terminated {
	t.Helper()
	var client workpb.WorkClient
	if cert != nil {
		p := proctest.Start(t, bin, proctest.TLSFlags(*cert, args...)...)
		client = workpb.NewWorkClient(dialTLS(t, p.Addr, *cert))
		return terminate(t, p, client, workers, perWorker)
	}
	p := proctest.Start(t, bin, args...)
	client = workpb.NewWorkClient(dial(t, p.Addr))
	return terminate(t, p, client, workers, perWorker)
}

func terminate(t *testing.T, p *proctest.Proc, client workpb.WorkClient, workers, perWorker int) terminated {
	t.Helper()
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
	cert := proctest.Cert(t)
	for _, tt := range []struct {
		name string
		cert *selfsigned.Cert
	}{{"plaintext", nil}, {"tls", &cert}} {
		t.Run(tt.name, func(t *testing.T) {
			r := terminateUnderLoad(t, bin, tt.cert, 8, 100, proctest.Flags()...)
			assert.Equal(t, 0, r.code)
			assert.Greater(t, r.load.ok, 16)
			assert.Empty(t, r.load.errs, "no RPC failed")
			assert.Equal(t, r.load.ok, r.rows, "rows = Do calls answered OK")
			assert.Equal(t, r.load.ok, r.lines, "journal lines = Do calls answered OK")
			assert.Equal(t, codes.Unavailable, status.Code(r.watch.err), "the drain ends Watch streams with a status that says retry elsewhere: %v", r.watch.err)
			assert.Contains(t, status.Convert(r.watch.err).Message(), "server is draining", "told apart from Stop's Unavailable")
		})
	}
}

// TestShutdownStrategy runs the same load against the common pattern:
// what is acknowledged is kept, but calls sent after SIGTERM fail, and
// GracefulStop waits for the Watch stream until the grace period is over,
// and Stop then cuts it.
func TestShutdownStrategy(t *testing.T) {
	bin := proctest.Build(t, ".")
	r := terminateUnderLoad(t, bin, nil, 8, 100, proctest.Flags("-strategy", "shutdown")...)
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
	r := terminateUnderLoad(t, bin, nil, 8, 10, proctest.Flags("-strategy", "none")...)
	proctest.AssertDiedOfSignal(t, r.code, false)
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
	assert.ElementsMatch(t, []string{"Do", "Watch", "Page"}, listMethods(ctx, t, cc, workpb.Work_ServiceDesc.ServiceName))

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

// listMethods asks reflection for the file that defines service and
// returns the service's method names.
func listMethods(ctx context.Context, t *testing.T, cc *grpc.ClientConn, service string) []string {
	t.Helper()
	stream, err := reflectiongrpc.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.Send(&reflectiongrpc.ServerReflectionRequest{
		MessageRequest: &reflectiongrpc.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: service},
	}))
	resp, err := stream.Recv()
	require.NoError(t, err)
	require.NoError(t, stream.CloseSend())
	var names []string
	for _, raw := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
		var fd descriptorpb.FileDescriptorProto
		require.NoError(t, proto.Unmarshal(raw, &fd))
		for _, sd := range fd.GetService() {
			if fd.GetPackage()+"."+sd.GetName() != service {
				continue
			}
			for _, m := range sd.GetMethod() {
				names = append(names, m.GetName())
			}
		}
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

// TestTLS serves gRPC over TLS: a client trusting the certificate calls Do
// over a connection that negotiated "h2", a plaintext client is refused,
// and the admin listener still speaks plaintext HTTP for the kubelet.
func TestTLS(t *testing.T) {
	bin := proctest.Build(t, ".")
	cert := proctest.Cert(t)
	p := proctest.Start(t, bin, proctest.TLSFlags(cert, "-strategy", "shutdown")...)
	ctx, cancel := context.WithTimeout(context.Background(), proctest.LoadTimeout)
	defer cancel()

	var pr peer.Peer
	resp, err := workpb.NewWorkClient(dialTLS(t, p.Addr, cert)).Do(ctx, &workpb.DoRequest{}, grpc.Peer(&pr))
	require.NoError(t, err)
	assert.Positive(t, resp.GetId())
	info, ok := pr.AuthInfo.(credentials.TLSInfo)
	require.True(t, ok, "peer auth info %T", pr.AuthInfo)
	assert.Equal(t, "h2", info.State.NegotiatedProtocol)

	_, err = workpb.NewWorkClient(dial(t, p.Addr)).Do(ctx, &workpb.DoRequest{})
	assert.Equal(t, codes.Unavailable, status.Code(err), "plaintext on the TLS port: %v", err)

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Admin+"/readyz", nil)
	require.NoError(t, err)
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	hresp, err := hc.Do(req)
	require.NoError(t, err)
	hresp.Body.Close()
	assert.Equal(t, http.StatusOK, hresp.StatusCode, "admin is plaintext")

	require.NoError(t, p.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.WaitExit(t, proctest.ExitTimeout))
	rows, lines, err := store.Count(p.DataDir)
	require.NoError(t, err)
	assert.Equal(t, 1, rows)
	assert.Equal(t, 1, lines)
}

// page calls Page and returns the seqs received and the final status.
func page(ctx context.Context, client workpb.WorkClient, count, intervalMs int32) ([]int64, error) {
	stream, err := client.Page(ctx, &workpb.PageRequest{Count: count, IntervalMs: intervalMs})
	if err != nil {
		return nil, err
	}
	var seqs []int64
	for {
		item, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return seqs, nil
		}
		if err != nil {
			return seqs, err
		}
		seqs = append(seqs, item.GetSeq())
	}
}

func TestPage(t *testing.T) {
	bin := proctest.Build(t, ".")
	p := proctest.Start(t, bin, "-strategy", "shutdown")
	client := workpb.NewWorkClient(dial(t, p.Addr))
	ctx, cancel := context.WithTimeout(context.Background(), proctest.LoadTimeout)
	defer cancel()

	t.Run("items", func(t *testing.T) {
		start := time.Now()
		seqs, err := page(ctx, client, 4, 50)
		require.NoError(t, err)
		assert.Equal(t, []int64{1, 2, 3, 4}, seqs)
		assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "items are interval_ms apart")
	})
	t.Run("none", func(t *testing.T) {
		seqs, err := page(ctx, client, 0, 1000)
		require.NoError(t, err)
		assert.Empty(t, seqs)
	})
	t.Run("no interval", func(t *testing.T) {
		seqs, err := page(ctx, client, 3, 0)
		require.NoError(t, err)
		assert.Equal(t, []int64{1, 2, 3}, seqs)
	})
	t.Run("sixty seconds", func(t *testing.T) {
		// The longest stream allowed is accepted; cancel it at once.
		cctx, ccancel := context.WithCancel(ctx)
		stream, err := client.Page(cctx, &workpb.PageRequest{Count: 60, IntervalMs: 1000})
		require.NoError(t, err)
		ccancel()
		_, err = stream.Recv()
		assert.Equal(t, codes.Canceled, status.Code(err), "%v", err)
	})
	for _, tt := range []struct {
		name            string
		count, interval int32
		want            string
	}{
		{"negative count", -1, 10, "count -1 must not be negative"},
		{"negative interval", 1, -10, "interval_ms -10 must not be negative"},
		{"too long", 61, 1000, "count 61 * interval_ms 1000 is more than 1m0s"},
		{"overflow", 1 << 30, 1 << 30, "is more than 1m0s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seqs, err := page(ctx, client, tt.count, tt.interval)
			assert.Empty(t, seqs)
			assert.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
			assert.Contains(t, status.Convert(err).Message(), tt.want)
		})
	}
}

// TestLameduckFinishesPages: Page streams in flight when the sequence is
// triggered are delivered whole. A load balancer stops opening new ones on
// this copy once readiness fails; the ones already open must not be cut
// when the drain starts, nor end early with OK.
func TestLameduckFinishesPages(t *testing.T) {
	bin := proctest.Build(t, ".")
	cert := proctest.Cert(t)
	// A grace of 6 s: the drain has 2 s before the close reserve, enough
	// for the streams to finish before they are told to end 1 s before its
	// deadline. With the shorter grace of the other tests the budget cannot
	// hold a 1.5 s stream, and the drain rightly ends it with Unavailable.
	p := proctest.Start(t, bin, proctest.TLSFlags(cert, proctest.Flags("-grace", "6s")...)...)
	client := workpb.NewWorkClient(dialTLS(t, p.Addr, cert))
	ctx, cancel := context.WithTimeout(context.Background(), proctest.LoadTimeout)
	defer cancel()

	// Each stream lasts 1.5 s, past the 1 s delay, so the drain starts while
	// all of them are open, and ends well within the grace period.
	const streams, count, intervalMs = 8, 15, 100
	type end struct {
		seqs []int64
		err  error
	}
	ends := make(chan end, streams)
	var opened sync.WaitGroup
	for range streams {
		opened.Add(1)
		go func() {
			stream, err := client.Page(ctx, &workpb.PageRequest{Count: count, IntervalMs: intervalMs})
			if err != nil {
				opened.Done()
				ends <- end{err: err}
				return
			}
			var e end
			first := true
			for {
				item, err := stream.Recv()
				if first {
					opened.Done()
					first = false
				}
				if err != nil {
					if !errors.Is(err, io.EOF) {
						e.err = err
					}
					ends <- e
					return
				}
				e.seqs = append(e.seqs, item.GetSeq())
			}
		}()
	}
	opened.Wait() // every stream has its first item: the server has it open
	require.NoError(t, p.Signal(syscall.SIGTERM))
	want := make([]int64, count)
	for i := range want {
		want[i] = int64(i + 1)
	}
	truncated, failed := 0, 0
	for range streams {
		select {
		case e := <-ends:
			switch {
			case e.err != nil:
				failed++
				t.Logf("stream failed after %d items: %v", len(e.seqs), e.err)
			case !assert.Equal(t, want, e.seqs):
				truncated++
			}
		case <-time.After(proctest.LoadTimeout):
			t.Fatal("Page stream did not end")
		}
	}
	assert.Zero(t, failed, "streams ended with a status other than OK")
	assert.Zero(t, truncated, "streams ended OK before their last item")
	assert.Equal(t, 0, p.WaitExit(t, proctest.ExitTimeout))
}

// TestWatchEndsAtTheDrain checks that the Watch stream, which never ends by
// itself, does not hold the drain: with nothing else in flight, the process
// exits right after the delay, with the stream ended as "server is
// draining", and a Page stream in flight completes. The grace period is
// long so that a drain waiting for the Watch stream would show.
func TestWatchEndsAtTheDrain(t *testing.T) {
	bin := proctest.Build(t, ".")
	for _, window := range []string{"0", "300ms"} {
		t.Run("stream end window "+window, func(t *testing.T) {
			p := proctest.Start(t, bin, "-grace", "20s", "-delay", proctest.Delay.String(), "-stream-end-window", window)
			client := workpb.NewWorkClient(dial(t, p.Addr))
			watched := watch(t, client)
			ctx, cancel := context.WithTimeout(context.Background(), proctest.LoadTimeout)
			defer cancel()
			page, err := client.Page(ctx, &workpb.PageRequest{Count: 10, IntervalMs: 100})
			require.NoError(t, err)

			start := time.Now()
			require.NoError(t, p.Signal(syscall.SIGTERM))
			items := 0
			for ; items < 20; items++ {
				if _, err = page.Recv(); err != nil {
					break
				}
			}
			assert.ErrorIs(t, err, io.EOF, "the Page stream must complete")
			assert.Equal(t, 10, items, "Page items")
			code := p.WaitExit(t, proctest.ExitTimeout)
			took := time.Since(start)
			var end watchEnd
			select {
			case end = <-watched:
			case <-time.After(proctest.LoadTimeout):
				t.Fatal("Watch did not end after the process exited")
			}
			t.Logf("SIGTERM to exit: %v (delay %v)", took, proctest.Delay)
			assert.Equal(t, 0, code)
			assert.Equal(t, codes.Unavailable, status.Code(end.err), "%v", end.err)
			assert.Contains(t, status.Convert(end.err).Message(), "server is draining")
			// Generous for a busy machine; a drain waiting for the Watch
			// stream would end 1 s (the stream end lead) before its deadline,
			// about 15 s after SIGTERM.
			assert.Less(t, took, proctest.Delay+2*time.Second, "the Watch stream must not hold the drain")
		})
	}
}

// TestMaxConnAgeFlag checks that -max-conn-age reaches grpcdrain: a
// client calling for longer than the age is moved to a new connection,
// which it never is without the flag.
func TestMaxConnAgeFlag(t *testing.T) {
	bin := proctest.Build(t, ".")
	for _, tt := range []struct {
		args      []string
		wantDials bool
	}{
		{nil, false},
		{[]string{"-max-conn-age", "100ms"}, true},
	} {
		t.Run(fmt.Sprint(tt.args), func(t *testing.T) {
			p := proctest.Start(t, bin, proctest.Flags(tt.args...)...)
			var dials atomic.Int64
			client := workpb.NewWorkClient(dial(t, p.Addr, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
				dials.Add(1)
				return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			})))
			deadline := time.Now().Add(time.Second) // 10 ages
			for i := 0; i < 1000 && dials.Load() < 2 && time.Now().Before(deadline); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
				_, err := client.Do(ctx, &workpb.DoRequest{DurationMs: 5})
				cancel()
				require.NoError(t, err, "an aged connection must not fail a call")
			}
			assert.Equal(t, tt.wantDials, dials.Load() >= 2, "dials: %d", dials.Load())
			require.NoError(t, p.Signal(syscall.SIGTERM))
			require.Equal(t, 0, p.WaitExit(t, proctest.ExitTimeout))
		})
	}
}
