package grpcdrain

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// unary counts the unary call in flight while its handler runs. It does
// nothing else: a unary call in flight at the drain runs to completion with
// its own context (or is cut by the forced stop at the deadline). It
// allocates nothing per call.
func (s *Server) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	return handler(ctx, req)
}

// stream counts the stream in flight and hands its handler a stream that
// the drain can end: its context is cancelled with cause ErrDraining, and
// its RecvMsg returns errStreamEnded, when the drain tells streams to end
// (at once for the health service's Watch, at the start of the drain for
// the methods of WithEndlessStreams). Without it, GracefulStop waits
// for every open stream, and a health Watch, a subscription or a bidi
// session never ends by itself (grpc-go#8776, grpc-go#1355).
func (s *Server) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)

	notice, window := s.healthNotice, (*endWindow)(nil)
	if info.FullMethod != healthgrpc.Health_Watch_FullMethodName {
		class := s.finite
		if s.cfg.endless[info.FullMethod] {
			class = s.endless
		}
		class.streams.Add(1)
		defer class.streams.Add(-1)
		notice, window = class.ctx, &class.window
	}
	ctx, cancel := context.WithCancelCause(ss.Context())
	defer cancel(nil)
	stop := context.AfterFunc(notice, func() { endStream(cancel, window) })

	var err error
	if info.IsClientStream {
		rs := newReceivingStream(ss, ctx)
		err = handler(srv, rs)
		rs.close()
	} else {
		err = handler(srv, &noticeStream{ServerStream: ss, ctx: ctx})
	}
	if stop() {
		return err // the drain did not end this stream
	}
	return endStatus(ctx, err)
}

// endStatus is the status of a stream whose handler returned err after the
// drain told the stream to end. Returning nil would tell the client that
// the stream completed when it was cut short, and returning the context's
// error would say Canceled when the client cancelled nothing: both become
// codes.Unavailable, which tells the client to try again elsewhere. A
// status of the handler's own choosing stays, and so does the client's
// own cancellation or deadline if it came before the drain's notice.
func endStatus(ctx context.Context, err error) error {
	if !errors.Is(context.Cause(ctx), ErrDraining) {
		return err
	}
	if err == nil || errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
		return errStreamEnded
	}
	return err
}

// noticeStream is a grpc.ServerStream whose context ends at the drain's
// notice.
type noticeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *noticeStream) Context() context.Context { return s.ctx }
