package grpcdrain_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
	"github.com/lameduck/lameduck/internal/testmain"
)

// waitBound bounds every wait for something that should take milliseconds;
// it is generous because CI is a busy 2-core machine.
const waitBound = 20 * time.Second

// statsOnly skips a statistical test (shares, spreads, bursts measured in
// real time) unless the environment sets LAMEDUCK_STATS=1.
func statsOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("LAMEDUCK_STATS") != "1" {
		t.Skip("a statistical measurement: run it with LAMEDUCK_STATS=1")
	}
}

func TestMain(m *testing.M) {
	testmain.Run(m)
}

// service implements testpb.TestServer.
type service struct {
	testpb.UnimplementedTestServer
	name string
	// entered receives a method name (without blocking) each time a
	// handler starts, so tests can wait for an RPC to be in flight.
	entered chan string
	// release is what Call with a negative delay waits for, ignoring its
	// context.
	release chan struct{}
	// ticks is how many ticks Ticks sends before it ends with OK; 0 means
	// until its context ends.
	ticks int64
	// chat is how Chat handles its stream.
	chat chatMode
	// end is how a stream handler ends when its context is done.
	end endStyle
	// opened, if not nil, records when each stream handler started.
	opened *timeline
}

// timeline records moments.
type timeline struct {
	mu    sync.Mutex
	times []time.Time
}

func (l *timeline) add(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.times = append(l.times, t)
}

func (l *timeline) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.times)
}

// span returns the time from the first moment to the last.
func (l *timeline) span() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.times) == 0 {
		return 0
	}
	return slices.MaxFunc(l.times, time.Time.Compare).Sub(slices.MinFunc(l.times, time.Time.Compare))
}

// peak returns the largest number of moments within any span of d.
func (l *timeline) peak(d time.Duration) int {
	l.mu.Lock()
	times := slices.Clone(l.times)
	l.mu.Unlock()
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	peak := 0
	for i, j := 0, 0; j < len(times); j++ {
		for times[j].Sub(times[i]) >= d {
			i++
		}
		peak = max(peak, j-i+1)
	}
	return peak
}

// chatMode is how the Chat handler handles its stream.
type chatMode int

const (
	// chatBlocked echoes every message, blocked in Recv between them, as
	// most bidi handlers do (grpc-go#1355).
	chatBlocked chatMode = iota
	// chatWatching echoes every message, receiving in a goroutine and
	// returning when its context ends.
	chatWatching
	// chatCollect receives until the client closes its side, then sends
	// one message with the number of messages it received: a client
	// stream.
	chatCollect
)

// endStyle is how a stream handler that sees its context done ends.
type endStyle int

const (
	// endCtxErr returns the context's error.
	endCtxErr endStyle = iota
	// endNilOnDraining returns nil when the cause is ErrDraining, hoping
	// for a clean end of stream.
	endNilOnDraining
)

func (e endStyle) String() string {
	if e == endNilOnDraining {
		return "nil on ErrDraining"
	}
	return "context error"
}

// ended is what a handler of style e returns when ctx is done.
func (e endStyle) ended(ctx context.Context) error {
	if e == endNilOnDraining && errors.Is(context.Cause(ctx), grpcdrain.ErrDraining) {
		return nil
	}
	return ctx.Err()
}

func newService(name string) *service {
	return &service{name: name, entered: make(chan string, 64), release: make(chan struct{})}
}

func (s *service) enter(method string) {
	select {
	case s.entered <- method:
	default:
	}
}

func (s *service) Call(ctx context.Context, req *testpb.CallRequest) (*testpb.CallResponse, error) {
	s.enter("Call")
	switch {
	case req.DelayMs < 0:
		<-s.release
	case req.DelayMs > 0:
		t := time.NewTimer(time.Duration(req.DelayMs) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &testpb.CallResponse{Server: s.name}, nil
}

// Ticks sends s.ticks ticks (or ticks until its context ends), one every
// IntervalMs.
func (s *service) Ticks(req *testpb.TicksRequest, stream testpb.Test_TicksServer) error {
	s.enter("Ticks")
	if s.opened != nil {
		s.opened.add(time.Now())
	}
	ticker := time.NewTicker(time.Duration(max(req.IntervalMs, 1)) * time.Millisecond)
	defer ticker.Stop()
	for seq := int64(1); s.ticks == 0 || seq <= s.ticks; seq++ {
		if err := stream.Send(&testpb.Tick{Seq: seq}); err != nil {
			return err
		}
		if seq == s.ticks {
			break
		}
		select {
		case <-ticker.C:
		case <-stream.Context().Done():
			return s.end.ended(stream.Context())
		}
	}
	return nil
}

func (s *service) Chat(stream testpb.Test_ChatServer) error {
	s.enter("Chat")
	switch s.chat {
	case chatCollect:
		return s.collect(stream)
	case chatWatching:
		return s.chatWatching(stream)
	}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(m); err != nil {
			return err
		}
	}
}

func (s *service) collect(stream testpb.Test_ChatServer) error {
	n := 0
	for {
		_, err := stream.Recv()
		if err == io.EOF {
			return stream.Send(&testpb.ChatMessage{Text: strconv.Itoa(n)})
		}
		if err != nil {
			return err
		}
		n++
	}
}

func (s *service) chatWatching(stream testpb.Test_ChatServer) error {
	ctx := stream.Context()
	received := make(chan *testpb.ChatMessage)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case received <- m:
			case <-ctx.Done():
				recvErr <- ctx.Err()
				return
			}
		}
	}()
	for {
		select {
		case m := <-received:
			if err := stream.Send(m); err != nil {
				return err
			}
		case err := <-recvErr:
			if err == io.EOF {
				return nil
			}
			return err
		case <-ctx.Done():
			// Returning ends the stream, which ends the pending Recv.
			return s.end.ended(ctx)
		}
	}
}

// trigger is a Lifecycle whose trigger the test pulls by closing it; a
// nil trigger never fires.
type trigger chan struct{}

func (c trigger) Triggered() <-chan struct{} { return c }

// server is a gRPC server on loopback with the health service and the test
// service registered.
type server struct {
	addr   string
	srv    *grpc.Server
	health *health.Server
	svc    *service
	// creds are the client's transport credentials for this server.
	creds credentials.TransportCredentials
	// mem, if not nil, is the in-memory listener the server serves: the
	// client dials it instead of addr.
	mem *bufconn.Listener
}

// startPlain starts a plain grpc-go server on 127.0.0.1:0, with no drain:
// what the package is compared with. The test's cleanup stops it and
// waits for Serve to return.
func startPlain(t *testing.T, svc *service) *server {
	t.Helper()
	s := &server{srv: grpc.NewServer(), health: health.NewServer(), svc: svc, creds: insecure.NewCredentials()}
	healthgrpc.RegisterHealthServer(s.srv, s.health)
	serve(t, s, s.srv.Stop)
	return s
}

// startDrained starts a grpcdrain server on 127.0.0.1:0, triggered by
// trig. The test's cleanup drains it with a context already done (which
// stops it at once if the test did not drain it) and waits for Serve to
// return.
func startDrained(t *testing.T, svc *service, trig trigger, opts ...grpcdrain.Option) (*server, *grpcdrain.Server) {
	t.Helper()
	return startDrainedOn(t, nil, svc, trig, opts...)
}

// startDrainedTLS is startDrained for a server of gRPC over TLS, with a
// certificate made for the test.
func startDrainedTLS(t *testing.T, svc *service, trig trigger, opts ...grpcdrain.Option) (*server, *grpcdrain.Server) {
	t.Helper()
	return withTLS(t, startDrained, svc, trig, opts)
}

// startDrainedMem is startDrained on an in-memory listener instead of
// loopback: for tests that run in a synctest bubble, whose fake clock
// advances only when every goroutine of the bubble is blocked on something
// the bubble can see, which a real socket is not.
func startDrainedMem(t *testing.T, svc *service, trig trigger, opts ...grpcdrain.Option) (*server, *grpcdrain.Server) {
	t.Helper()
	return startDrainedOn(t, bufconn.Listen(1<<20), svc, trig, opts...)
}

// startDrainedMemTLS is startDrainedMem for gRPC over TLS. Called in a
// bubble, the certificate is valid on the bubble's clock.
func startDrainedMemTLS(t *testing.T, svc *service, trig trigger, opts ...grpcdrain.Option) (*server, *grpcdrain.Server) {
	t.Helper()
	return withTLS(t, startDrainedMem, svc, trig, opts)
}

// startDrainedOn is startDrained on mem, or on 127.0.0.1:0 when mem is
// nil.
func startDrainedOn(t *testing.T, mem *bufconn.Listener, svc *service, trig trigger, opts ...grpcdrain.Option) (*server, *grpcdrain.Server) {
	t.Helper()
	d := grpcdrain.NewServer(trig, opts...)
	s := &server{srv: d.Server, health: d.Health(), svc: svc, creds: insecure.NewCredentials(), mem: mem}
	stop := func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = d.Drain(ctx)
	}
	if mem == nil {
		serve(t, s, stop)
	} else {
		serveOn(t, s, mem, stop)
	}
	return s, d
}

// withTLS starts a server with start, serving gRPC over TLS with a
// certificate made for the test, and gives its clients the credentials
// that trust it.
func withTLS(t *testing.T, start func(*testing.T, *service, trigger, ...grpcdrain.Option) (*server, *grpcdrain.Server),
	svc *service, trig trigger, opts []grpcdrain.Option) (*server, *grpcdrain.Server) {
	t.Helper()
	serverCreds, clientCreds := newTLS(t)
	s, d := start(t, svc, trig, append(opts, grpcdrain.WithServerOptions(grpc.Creds(serverCreds)))...)
	s.creds = clientCreds
	return s, d
}

// serve registers the test service on s and serves it on 127.0.0.1:0
// until the test's cleanup calls stop.
func serve(t *testing.T, s *server, stop func()) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serveOn(t, s, lis, stop)
}

// serveOn registers the test service on s and serves it on lis until the
// test's cleanup calls stop.
func serveOn(t *testing.T, s *server, lis net.Listener, stop func()) {
	t.Helper()
	s.addr = lis.Addr().String()
	testpb.RegisterTestServer(s.srv, s.svc)
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(lis) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-served:
		case <-time.After(waitBound):
			t.Errorf("Serve did not return after the stop within %v", waitBound)
		}
	})
}

// dial connects to one address in plaintext, without retries; the test's
// cleanup closes the connection.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	return dialCreds(t, addr, insecure.NewCredentials())
}

// dialServer connects to s with the credentials it needs, without retries.
func dialServer(t *testing.T, s *server) *grpc.ClientConn {
	t.Helper()
	if s.mem != nil {
		// The name the TLS certificate is made for; the dialer ignores it.
		return dialCreds(t, "127.0.0.1", s.creds, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return s.mem.DialContext(ctx)
		}))
	}
	return dialCreds(t, s.addr, s.creds)
}

func dialCreds(t *testing.T, addr string, creds credentials.TransportCredentials, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr,
		append([]grpc.DialOption{grpc.WithTransportCredentials(creds), grpc.WithDisableRetry()}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// waitClosed fails the test if ch is not closed within waitBound.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitBound):
		t.Fatalf("%s: not within %v", what, waitBound)
	}
}

// waitEntered waits until a handler of method has started on svc.
func waitEntered(t *testing.T, svc *service, method string) {
	t.Helper()
	timeout := time.After(waitBound)
	for {
		select {
		case m := <-svc.entered:
			if m == method {
				return
			}
		case <-timeout:
			t.Fatalf("no %s handler started within %v", method, waitBound)
		}
	}
}

// waitErr waits for the final error of an RPC.
func waitErr(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(waitBound):
		t.Fatalf("%s: no result within %v", what, waitBound)
		return nil
	}
}
