package grpcdrain_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
)

// BenchmarkUnary measures a whole unary call in process over bufconn,
// with no interceptor, with an interceptor that does nothing (what any
// interceptor costs in grpc-go: the generated code allocates the
// UnaryServerInfo and the handler closure when an interceptor is set), and
// with the grpcdrain interceptor. Compare grpcdrain with noop for what the
// package adds.
func BenchmarkUnary(b *testing.B) {
	noop := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return handler(ctx, req)
	}
	d, err := grpcdrain.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		opts []grpc.ServerOption
	}{
		{"bare", nil},
		{"noop", []grpc.ServerOption{grpc.UnaryInterceptor(noop)}},
		{"grpcdrain", []grpc.ServerOption{grpc.UnaryInterceptor(d.UnaryServerInterceptor())}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			client := benchClient(b, bc.opts...)
			ctx := context.Background()
			req := &testpb.CallRequest{}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.Call(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnaryInterceptor measures the interceptor alone, against calling
// the handler directly: the cost a call pays for the in-flight tracking.
func BenchmarkUnaryInterceptor(b *testing.B) {
	d, err := grpcdrain.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	interceptor := d.UnaryServerInterceptor()
	handler := func(_ context.Context, req any) (any, error) { return req, nil }
	info := &grpc.UnaryServerInfo{FullMethod: testpb.Test_Call_FullMethodName}
	ctx := context.Background()
	req := &testpb.CallRequest{}
	b.Run("handler", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := handler(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("grpcdrain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := interceptor(ctx, req, info, handler); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchClient(b *testing.B, opts ...grpc.ServerOption) testpb.TestClient {
	b.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(opts...)
	testpb.RegisterTestServer(srv, newService("bench"))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	cc, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cc.Close()
		srv.Stop()
		<-served
	})
	return testpb.NewTestClient(cc)
}
