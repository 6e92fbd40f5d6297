package grpcdrain

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// UnaryServerInterceptor returns an interceptor that counts the unary call
// in flight while its handler runs. It does nothing else: a unary call in
// flight at the drain runs to completion with its own context (or is cut by
// the forced stop at the deadline). It allocates nothing per call.
func (d *Drainer) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return d.unary
}

func (d *Drainer) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	d.inFlight.Add(1)
	defer d.inFlight.Add(-1)
	return handler(ctx, req)
}

// StreamServerInterceptor returns an interceptor that counts the stream in
// flight and hands its handler a context that is also cancelled, with
// cause [ErrDraining], when the drain tells long-lived streams to finish:
// at once for the health service's Watch, after [WithStreamGrace] for the
// others. Without it, GracefulStop waits for every open stream, and a
// health Watch or a subscription never ends by itself (grpc-go#8776,
// grpc-go#1355).
//
// A handler that sees ErrDraining should return nil (the client sees a
// clean end of stream) or a status of its choosing. If it returns the
// context's error, or a status with code Canceled (as the health service
// does), the client gets codes.Unavailable instead, the code that tells it
// to try again elsewhere: the client did not cancel anything.
//
// A handler blocked in RecvMsg is not woken by the context: grpc-go ends
// RecvMsg only when the stream ends. Receive in a goroutine and select on
// the context, or the stream will be cut by the forced stop. The
// interceptor allocates a context and a wrapper per stream.
func (d *Drainer) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return d.stream
}

func (d *Drainer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	d.inFlight.Add(1)
	defer d.inFlight.Add(-1)

	notice := d.streamNotice
	if info.FullMethod == healthgrpc.Health_Watch_FullMethodName {
		notice = d.healthNotice
	}
	ctx, cancel := context.WithCancelCause(ss.Context())
	defer cancel(nil)
	stop := context.AfterFunc(notice, func() { cancel(ErrDraining) })
	defer stop()

	err := handler(srv, &noticeStream{ServerStream: ss, ctx: ctx})
	if err != nil && ss.Context().Err() == nil && errors.Is(context.Cause(ctx), ErrDraining) && canceled(err) {
		return status.Error(codes.Unavailable, ErrDraining.Error())
	}
	return err
}

// canceled reports whether err says the RPC was cancelled, the way a
// handler reports its cancelled context.
func canceled(err error) bool {
	return errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled
}

// noticeStream is a grpc.ServerStream whose context ends at the drain.
type noticeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *noticeStream) Context() context.Context { return s.ctx }
