package main

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/examples/grpc/workpb"
)

// grpcLane is one grpc.ClientConn (one HTTP/2 connection at a time)
// calling Work.Do, with retries disabled.
type grpcLane struct {
	conn   *grpc.ClientConn
	client workpb.WorkClient
	work   time.Duration
}

func newGRPCLane(addr string, work time.Duration) (*grpcLane, error) {
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDisableRetry())
	if err != nil {
		return nil, fmt.Errorf("rollout: grpc client: %w", err)
	}
	return &grpcLane{conn: conn, client: workpb.NewWorkClient(conn), work: work}, nil
}

// Send calls Do once; any status but OK is a failure named by its code.
func (l *grpcLane) Send(ctx context.Context) error {
	_, err := l.client.Do(ctx, &workpb.DoRequest{DurationMs: l.work.Milliseconds()})
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok {
		return &statusError{kind: s.Code().String(), msg: s.Message()}
	}
	return err
}

// Resent is zero: grpc-go's transparent retry of unprocessed streams
// (which WithDisableRetry leaves on) is not visible to the caller.
func (l *grpcLane) Resent() int { return 0 }

// Close closes the connection.
func (l *grpcLane) Close() { l.conn.Close() }
