package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lameduck/lameduck/examples/grpc/workpb"
	"github.com/lameduck/lameduck/examples/internal/selfsigned"
	"github.com/lameduck/lameduck/internal/loadtest"
)

// grpcLane is one grpc.ClientConn (one HTTP/2 connection at a time)
// calling Work.Do, with retries disabled.
type grpcLane struct {
	conn   *grpc.ClientConn
	client workpb.WorkClient
	work   time.Duration
}

// newGRPCLane returns a lane to addr, over TLS trusting only cert when
// cert is not nil.
func newGRPCLane(addr string, work time.Duration, cert *selfsigned.Cert) (*grpcLane, error) {
	creds := insecure.NewCredentials()
	if cert != nil {
		creds = credentials.NewTLS(cert.ClientConfig()) // offers ALPN "h2"
	}
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithDisableRetry())
	if err != nil {
		return nil, fmt.Errorf("rollout: grpc client: %w", err)
	}
	return &grpcLane{conn: conn, client: workpb.NewWorkClient(conn), work: work}, nil
}

// Send calls Do once; any status but OK is a failure, which
// loadtest.Reason names by its code.
func (l *grpcLane) Send(ctx context.Context) error {
	_, err := l.client.Do(ctx, &workpb.DoRequest{DurationMs: l.work.Milliseconds()})
	return err
}

// Resent is zero: grpc-go's transparent retry of unprocessed streams
// (which WithDisableRetry leaves on) is not visible to the caller.
func (l *grpcLane) Resent() int { return 0 }

// Close closes the connection.
func (l *grpcLane) Close() { l.conn.Close() }

// Page streams of the load: pageMinItems to pageMaxItems items
// pageInterval apart, so each lasts 1 to 2 s and many are open across
// every drain.
const (
	pageInterval = 100 * time.Millisecond
	pageMinItems = 10
	pageMaxItems = 20
)

// pageLane calls Work.Page on a grpcLane's connection and reads the
// stream to its end. A stream is acknowledged only when it ends with OK
// after all of its items, in order.
type pageLane struct {
	*grpcLane
	seed uint64 // varies the stream lengths between lanes
	n    atomic.Uint64
}

// Send opens one Page stream and reads it to its end. It returns a
// *loadtest.Error of reason "truncated" around a *truncatedError when the
// stream ended, with any status, after some items but before the last,
// and the stream's status when it failed before its first item.
func (l *pageLane) Send(ctx context.Context) error {
	count := pageMinItems + int((l.seed*7+l.n.Add(1))%(pageMaxItems-pageMinItems+1))
	stream, err := l.client.Page(ctx, &workpb.PageRequest{Count: int32(count), IntervalMs: int32(pageInterval.Milliseconds())})
	if err != nil {
		return err
	}
	got := 0
	for {
		item, err := stream.Recv()
		switch {
		case errors.Is(err, io.EOF) && got == count:
			return nil
		case errors.Is(err, io.EOF):
			return truncate(got, count, nil)
		case err != nil && got == 0:
			return err
		case err != nil:
			return truncate(got, count, err)
		case item.GetSeq() != int64(got+1):
			return fmt.Errorf("rollout: Page item %d has seq %d", got+1, item.GetSeq())
		}
		got++
	}
}

// truncated is the reason of a stream that ended before its last item.
const truncated = "truncated"

func truncate(got, want int, err error) error {
	return &loadtest.Error{Reason: truncated, Err: &truncatedError{got: got, want: want, err: err}}
}

// truncatedError is a stream that ended before its last item.
type truncatedError struct {
	got, want int
	err       error // the status it ended with; nil for OK
}

func (e *truncatedError) Error() string {
	end := "OK"
	if e.err != nil {
		end = e.err.Error()
	}
	return fmt.Sprintf("stream ended after %d of %d items with %s", e.got, e.want, end)
}

func (e *truncatedError) Unwrap() error { return e.err }
