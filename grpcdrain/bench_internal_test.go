package grpcdrain

import (
	"context"
	"testing"

	"google.golang.org/grpc"
)

// nilLifecycle never triggers.
type nilLifecycle struct{}

func (nilLifecycle) Triggered() <-chan struct{} { return nil }

// BenchmarkUnaryInterceptor measures the unary interceptor alone, against
// calling the handler directly: the cost a call pays for the in-flight
// tracking.
func BenchmarkUnaryInterceptor(b *testing.B) {
	s := NewServer(nilLifecycle{})
	b.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.Drain(ctx)
	})
	handler := func(_ context.Context, req any) (any, error) { return req, nil }
	info := &grpc.UnaryServerInfo{FullMethod: "/lameduck.grpcdrain.test.v1.Test/Call"}
	ctx := context.Background()
	req := new(int)
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
			if _, err := s.unary(ctx, req, info, handler); err != nil {
				b.Fatal(err)
			}
		}
	})
}
