package grpcdrain_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
)

// waitBound bounds every wait for something that should take milliseconds;
// it is generous because CI is a busy 2-core machine.
const waitBound = 20 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
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
	// chatWatchesContext makes Chat receive in a goroutine and return
	// when its context ends; otherwise it blocks in Recv like most bidi
	// handlers do (grpc-go#1355).
	chatWatchesContext bool
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

// Ticks ends cleanly when the drain tells it to, the pattern the package
// documents for long-lived streams.
func (s *service) Ticks(req *testpb.TicksRequest, stream testpb.Test_TicksServer) error {
	s.enter("Ticks")
	ticker := time.NewTicker(time.Duration(max(req.IntervalMs, 1)) * time.Millisecond)
	defer ticker.Stop()
	for seq := int64(1); ; seq++ {
		if err := stream.Send(&testpb.Tick{Seq: seq}); err != nil {
			return err
		}
		select {
		case <-ticker.C:
		case <-stream.Context().Done():
			if errors.Is(context.Cause(stream.Context()), grpcdrain.ErrDraining) {
				return nil
			}
			return stream.Context().Err()
		}
	}
}

func (s *service) Chat(stream testpb.Test_ChatServer) error {
	s.enter("Chat")
	if !s.chatWatchesContext {
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
			case <-stream.Context().Done():
				recvErr <- stream.Context().Err()
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
		case <-stream.Context().Done():
			// Returning ends the stream, which ends the pending Recv.
			return nil
		}
	}
}

// server is a gRPC server on loopback with the health service and the test
// service registered.
type server struct {
	addr   string
	srv    *grpc.Server
	health *health.Server
	svc    *service
}

// startServer starts a server on 127.0.0.1:0; the test's cleanup stops it
// and waits for Serve to return.
func startServer(t *testing.T, svc *service, opts ...grpc.ServerOption) *server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &server{addr: lis.Addr().String(), srv: grpc.NewServer(opts...), health: health.NewServer(), svc: svc}
	healthgrpc.RegisterHealthServer(s.srv, s.health)
	testpb.RegisterTestServer(s.srv, svc)
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(lis) }()
	t.Cleanup(func() {
		s.srv.Stop()
		select {
		case <-served:
		case <-time.After(waitBound):
			t.Errorf("Serve did not return after Stop within %v", waitBound)
		}
	})
	return s
}

// startDrained starts a server wired to a new Drainer.
func startDrained(t *testing.T, svc *service, triggered <-chan struct{}, opts ...grpcdrain.Option) (*server, *grpcdrain.Drainer) {
	t.Helper()
	d, err := grpcdrain.New(triggered, opts...)
	require.NoError(t, err)
	s := startServer(t, svc, d.ServerOptions()...)
	d.Attach(s.srv, s.health)
	return s, d
}

// dial connects to one address, without retries; the test's cleanup
// closes the connection.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDisableRetry())
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
