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

// maxPage bounds the length of a Page stream, count * interval_ms, so that
// one call cannot hold a stream (and a drain waiting for it) for long.
const maxPage = time.Minute

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
	s.store.Enqueue(id) // the follow-up job, done by the worker (store.RunJobs)
	return &workpb.DoResponse{Id: id}, nil
}

// Watch sends an event every watchInterval until the stream's context ends,
// and then returns. When the server drains, grpcdrain turns that end into
// codes.Unavailable ("server is draining"), so the client opens a new
// stream, which the load balancer sends to another server.
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

// Page sends req.Count items req.IntervalMs apart, then ends with OK. If
// the call's context ends first (the client cancelled, or the server is
// stopping the stream), it ends with that context's status, never with OK:
// a stream cut short must not look complete.
func (s *workServer) Page(req *workpb.PageRequest, stream workpb.Work_PageServer) error {
	count, interval := req.GetCount(), req.GetIntervalMs()
	switch {
	case count < 0:
		return status.Errorf(codes.InvalidArgument, "count %d must not be negative", count)
	case interval < 0:
		return status.Errorf(codes.InvalidArgument, "interval_ms %d must not be negative", interval)
	case int64(count)*int64(interval) > maxPage.Milliseconds():
		return status.Errorf(codes.InvalidArgument, "count %d * interval_ms %d is more than %v: ask for fewer or closer items", count, interval, maxPage)
	}
	ctx := stream.Context()
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for seq := int64(1); seq <= int64(count); seq++ {
		t.Reset(time.Duration(interval) * time.Millisecond)
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-t.C:
		}
		if err := stream.Send(&workpb.PageItem{Seq: seq}); err != nil {
			return err
		}
	}
	return nil
}
