package grpcdrain_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
)

// benchServers are the servers every benchmark runs on: plain grpc-go with
// no interceptor; with interceptors that do nothing (what any interceptor
// costs in grpc-go: the generated code allocates the info and the handler
// closure when an interceptor is set, and a stream interceptor that wraps
// the stream allocates the wrapper); and grpcdrain's server, without
// and with connection recycling and a stream end window. Compare grpcdrain
// with noop for what the package adds.
var benchServers = []struct {
	name string
	new  func() (srv *grpc.Server, stop func())
}{
	{"bare", func() (*grpc.Server, func()) { s := grpc.NewServer(); return s, s.Stop }},
	{"noop", func() (*grpc.Server, func()) {
		s := grpc.NewServer(grpc.ChainUnaryInterceptor(noopUnary), grpc.ChainStreamInterceptor(noopStream))
		return s, s.Stop
	}},
	{"grpcdrain", func() (*grpc.Server, func()) { return drainServer() }},
	{"grpcdrain+age+window", func() (*grpc.Server, func()) {
		return drainServer(grpcdrain.WithMaxConnectionAge(time.Hour), grpcdrain.WithDrainWindow(time.Second))
	}},
}

// drainServer returns grpcdrain's server with opts, and the function that
// stops it.
func drainServer(opts ...grpcdrain.Option) (*grpc.Server, func()) {
	s := grpcdrain.NewServer(trigger(nil), opts...)
	return s.Server, func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.Drain(ctx)
	}
}

func noopUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return handler(ctx, req)
}

func noopStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &wrappedStream{ss})
}

type wrappedStream struct{ grpc.ServerStream }

// BenchmarkUnary measures a whole unary call in process over bufconn.
func BenchmarkUnary(b *testing.B) {
	for _, bs := range benchServers {
		b.Run(bs.name, func(b *testing.B) {
			client := benchClient(b, bs.new)
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

// BenchmarkStreamOpen measures a whole bidi stream with one message each
// way: what opening a stream costs, the receiving goroutine included.
func BenchmarkStreamOpen(b *testing.B) {
	for _, bs := range benchServers {
		b.Run(bs.name, func(b *testing.B) {
			client := benchClient(b, bs.new)
			msg := &testpb.ChatMessage{Text: "m"}
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				stream, err := client.Chat(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := stream.Send(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := stream.Recv(); err != nil {
					b.Fatal(err)
				}
				if err := stream.CloseSend(); err != nil {
					b.Fatal(err)
				}
				if _, err := stream.Recv(); err == nil {
					b.Fatal("stream did not end")
				}
				cancel()
			}
		})
	}
}

// BenchmarkStreamMessage measures one message each way on an open bidi
// stream: what every RecvMsg costs.
func BenchmarkStreamMessage(b *testing.B) {
	for _, bs := range benchServers {
		b.Run(bs.name, func(b *testing.B) {
			client := benchClient(b, bs.new)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stream, err := client.Chat(ctx)
			if err != nil {
				b.Fatal(err)
			}
			msg := &testpb.ChatMessage{Text: "m"}
			b.ReportAllocs()
			for b.Loop() {
				if err := stream.Send(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := stream.Recv(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchClient(b *testing.B, newServer func() (*grpc.Server, func())) testpb.TestClient {
	b.Helper()
	lis := bufconn.Listen(1 << 20)
	srv, stop := newServer()
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
		stop()
		<-served
	})
	return testpb.NewTestClient(cc)
}
