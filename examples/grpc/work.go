package main

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/examples/grpc/workpb"
	"github.com/lameduck/lameduck/examples/internal/store"
)

// watchInterval is the period of Watch events.
const watchInterval = 100 * time.Millisecond

// workServer implements the Work service over the store. An OK answer to
// Do means the request was recorded, so rows = journal lines = OK answers.
type workServer struct {
	workpb.UnimplementedWorkServer
	store *store.Store
}

// Do waits the requested duration, ending early with the call's context,
// then records the request and answers with its row id.
func (s *workServer) Do(ctx context.Context, req *workpb.DoRequest) (*workpb.DoResponse, error) {
	if req.GetDurationMs() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "duration_ms %d must not be negative", req.GetDurationMs())
	}
	if d := time.Duration(req.GetDurationMs()) * time.Millisecond; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	id, err := s.store.Record(ctx, "grpc")
	if errors.Is(err, store.ErrClosed) {
		return nil, status.Error(codes.Unavailable, "shutting down")
	}
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &workpb.DoResponse{Id: id}, nil
}

// Watch sends an event every watchInterval until the stream's context ends,
// and then ends the stream with OK: when the server drains, the client sees
// a clean end and opens a new stream, which the load balancer sends to
// another server.
func (s *workServer) Watch(_ *workpb.WatchRequest, stream workpb.Work_WatchServer) error {
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for seq := int64(1); ; seq++ {
		select {
		case <-stream.Context().Done():
			return nil
		case <-t.C:
		}
		if err := stream.Send(&workpb.WatchEvent{Seq: seq}); err != nil {
			return err
		}
	}
}
