package grpcdrain_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
)

// lifecycle stands for the shutdown sequence (*shutdown.Sequence) in the
// examples: closing triggered is the SIGTERM.
type lifecycle struct{ triggered chan struct{} }

func (l lifecycle) Triggered() <-chan struct{} { return l.triggered }

func Example() {
	// In a program: srv := grpcdrain.NewServer(seq, ...), and
	// seq.Serve("grpc", func() error { return srv.ListenAndServe(":8081") }, srv.Drain).
	lc := lifecycle{triggered: make(chan struct{})}
	srv := grpcdrain.NewServer(lc, grpcdrain.WithServerOptions(grpc.MaxConcurrentStreams(100)))
	testpb.RegisterTestServer(srv, ticker{}) // srv embeds *grpc.Server

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	close(lc.triggered) // SIGTERM: NOT_SERVING, still serving
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("drain:", srv.Drain(ctx)) // after the propagation delay
	// Serve returns nil, or grpc.ErrServerStopped if the drain came first.
	<-served
	resp, err := srv.Health().Check(ctx, &healthgrpc.HealthCheckRequest{})
	if err != nil {
		panic(err)
	}
	fmt.Println("health:", resp.Status)
	// Output:
	// drain: <nil>
	// health: NOT_SERVING
}

// ticker is a service with a stream that never ends by itself.
type ticker struct {
	testpb.UnimplementedTestServer
}

// Ticks sends a tick every second until its context ends. It returns the
// context's error, as any handler: when the drain ended the stream, the
// client gets codes.Unavailable all the same.
func (ticker) Ticks(_ *testpb.TicksRequest, stream testpb.Test_TicksServer) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for seq := int64(1); ; seq++ {
		if err := stream.Send(&testpb.Tick{Seq: seq}); err != nil {
			return err
		}
		select {
		case <-t.C:
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
}

// A stream that never ends by itself, such as Ticks, is named with
// WithEndlessStreams: the drain ends it as it starts, and its client gets
// codes.Unavailable, the code that tells it to open the stream again
// elsewhere.
func ExampleServer_Drain_longLivedStream() {
	srv := grpcdrain.NewServer(lifecycle{}, grpcdrain.WithEndlessStreams(testpb.Test_Ticks_FullMethodName))
	testpb.RegisterTestServer(srv, ticker{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := testpb.NewTestClient(cc).Ticks(ctx, &testpb.TicksRequest{})
	if err != nil {
		panic(err)
	}
	if _, err := stream.Recv(); err != nil {
		panic(err)
	}

	fmt.Println("drain:", srv.Drain(ctx))
	_, err = stream.Recv()
	fmt.Println("client:", status.Code(err))
	<-served
	// Output:
	// drain: <nil>
	// client: Unavailable
}
