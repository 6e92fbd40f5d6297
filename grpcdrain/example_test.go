package grpcdrain_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
)

func Example() {
	// In a program, triggered is the shutdown sequence's Triggered channel
	// and Drain is registered as its drain step.
	triggered := make(chan struct{})
	d, err := grpcdrain.New(triggered)
	if err != nil {
		panic(err)
	}
	srv := grpc.NewServer(d.ServerOptions()...)
	hs := health.NewServer()
	healthgrpc.RegisterHealthServer(srv, hs)
	d.Attach(srv, hs)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	close(triggered) // SIGTERM: NOT_SERVING, still serving
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("drain:", d.Drain(ctx)) // after the propagation delay
	// Serve returns nil, or grpc.ErrServerStopped if the drain came first.
	<-served
	resp, err := hs.Check(ctx, &healthgrpc.HealthCheckRequest{})
	if err != nil {
		panic(err)
	}
	fmt.Println("health:", resp.Status)
	// Output:
	// drain: <nil>
	// health: NOT_SERVING
}

// ticker is a service whose long-lived stream ends cleanly at the drain.
type ticker struct {
	testpb.UnimplementedTestServer
}

func (ticker) Ticks(_ *testpb.TicksRequest, stream testpb.Test_TicksServer) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for seq := int64(1); ; seq++ {
		select {
		case <-t.C:
			if err := stream.Send(&testpb.Tick{Seq: seq}); err != nil {
				return err
			}
		case <-stream.Context().Done():
			if errors.Is(context.Cause(stream.Context()), grpcdrain.ErrDraining) {
				return nil // the server is draining: a clean end of stream
			}
			return stream.Context().Err() // the client went away
		}
	}
}

// A stream handler learns of the drain from its context, whose cause is
// ErrDraining.
func ExampleDrainer_StreamServerInterceptor() {
	d, err := grpcdrain.New(nil)
	if err != nil {
		panic(err)
	}
	srv := grpc.NewServer(grpc.ChainStreamInterceptor(d.StreamServerInterceptor()))
	testpb.RegisterTestServer(srv, ticker{})
	d.Attach(srv, nil)
	fmt.Println(d.Drain(context.Background()))
	// Output: <nil>
}
