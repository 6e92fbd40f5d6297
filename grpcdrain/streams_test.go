package grpcdrain_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
)

const (
	// finiteMessages messages, finiteInterval apart, make a finite stream
	// of about a second.
	finiteMessages = 20
	finiteInterval = 50 * time.Millisecond
	// finiteBudget is the drain budget while finite streams run: far more
	// than they need.
	finiteBudget = 10 * time.Second
	// longLivedBudget is the drain budget while streams that never end by
	// themselves run: the drain tells them to end DefaultStreamEndLead
	// before its deadline.
	longLivedBudget = 2 * time.Second
)

// transports are the ways a test server is reached.
var transports = []struct {
	name  string
	start func(t *testing.T, svc *service, trig trigger, opts ...grpcdrain.Option) (*server, *grpcdrain.Server)
}{
	{"plaintext", startDrained},
	{"TLS", startDrainedTLS},
}

// streamResult is what a client saw of a stream: how many messages it got
// and the final status (nil for OK).
type streamResult struct {
	got int
	err error
}

func (r streamResult) String() string {
	return fmt.Sprintf("%d messages, status %v", r.got, status.Code(r.err))
}

// finiteStream runs one finite stream on cc, calls started once it has
// sent or received its first message (or failed), and returns what the
// client saw.
type finiteStream func(cc *grpc.ClientConn, started func()) streamResult

// TestAcceptedStreamsComplete checks that finite streams in flight when the
// drain starts run to completion with default options, whatever their
// handlers do when their context ends.
func TestAcceptedStreamsComplete(t *testing.T) {
	kinds := []struct {
		name   string
		method string
		chat   chatMode
		run    finiteStream
	}{
		{"server stream", "Ticks", chatBlocked, finiteTicks},
		{"client stream", "Chat", chatCollect, finiteUpload},
		{"bidi stream", "Chat", chatWatching, finiteChat},
	}
	for _, tr := range transports {
		for _, kind := range kinds {
			for _, end := range []endStyle{endCtxErr, endNilOnDraining} {
				t.Run(fmt.Sprintf("%s/%s/%v", tr.name, kind.name, end), func(t *testing.T) {
					t.Parallel()
					svc := newService("a")
					svc.ticks, svc.chat, svc.end = finiteMessages, kind.chat, end
					s, d := tr.start(t, svc, nil)
					cc := dialServer(t, s)

					started := make(chan struct{})
					result := make(chan streamResult, 1)
					go func() { result <- kind.run(cc, sync.OnceFunc(func() { close(started) })) }()
					waitClosed(t, started, "stream under way")
					// The handler runs: the stream was accepted.
					waitEntered(t, svc, kind.method)

					ctx, cancel := context.WithTimeout(context.Background(), finiteBudget)
					defer cancel()
					require.NoError(t, d.Drain(ctx))
					var r streamResult
					select {
					case r = <-result:
					case <-time.After(waitBound):
						t.Fatalf("stream did not end within %v", waitBound)
					}
					assert.NoError(t, r.err, "final status")
					assert.Equal(t, finiteMessages, r.got, "messages received: %v", r)
				})
			}
		}
	}
}

// finiteTicks receives Ticks until it ends; the service sends
// finiteMessages.
func finiteTicks(cc *grpc.ClientConn, started func()) streamResult {
	defer started()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	stream, err := testpb.NewTestClient(cc).Ticks(ctx, &testpb.TicksRequest{IntervalMs: finiteInterval.Milliseconds()})
	if err != nil {
		return streamResult{err: err}
	}
	var r streamResult
	for range finiteMessages + 1 {
		if _, r.err = stream.Recv(); r.err != nil {
			break
		}
		r.got++
		started()
	}
	if errors.Is(r.err, io.EOF) {
		r.err = nil
	}
	return r
}

// finiteUpload sends finiteMessages on Chat, closes its side, and reads
// the count the service sends back; got is that count.
func finiteUpload(cc *grpc.ClientConn, started func()) streamResult {
	defer started()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	stream, err := testpb.NewTestClient(cc).Chat(ctx)
	if err != nil {
		return streamResult{err: err}
	}
	for i := range finiteMessages {
		if err := stream.Send(&testpb.ChatMessage{Text: "m"}); err != nil {
			break // the status comes from Recv
		}
		if i == 0 {
			started()
		}
		time.Sleep(finiteInterval) // the pace of the stream, not a wait
	}
	var r streamResult
	if r.err = stream.CloseSend(); r.err != nil {
		return r
	}
	m, err := stream.Recv()
	if err != nil {
		return streamResult{err: err}
	}
	if r.got, r.err = strconv.Atoi(m.Text); r.err != nil {
		return r
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		r.err = err
	}
	return r
}

// finiteChat sends finiteMessages on Chat, each after the echo of the one
// before, then closes its side and reads to the end.
func finiteChat(cc *grpc.ClientConn, started func()) streamResult {
	defer started()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	stream, err := testpb.NewTestClient(cc).Chat(ctx)
	if err != nil {
		return streamResult{err: err}
	}
	var r streamResult
	for range finiteMessages {
		if r.err = stream.Send(&testpb.ChatMessage{Text: "m"}); r.err != nil {
			break
		}
		if _, r.err = stream.Recv(); r.err != nil {
			return r
		}
		r.got++
		started()
		time.Sleep(finiteInterval) // the pace of the stream, not a wait
	}
	if r.err = stream.CloseSend(); r.err != nil {
		return r
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		r.err = err
	}
	return r
}

// TestLongLivedStreamsEndedByDrain checks that streams which never end by
// themselves are ended by the drain shortly before its deadline, with a
// status that tells the client to go elsewhere, whatever their handlers
// return, and without the forced stop: a handler blocked in Recv included.
func TestLongLivedStreamsEndedByDrain(t *testing.T) {
	kinds := []struct {
		name string
		chat chatMode
		open openRPC
	}{
		{"server stream", chatBlocked, openTicks},
		{"bidi blocked in Recv", chatBlocked, openChat},
		{"bidi watching its context", chatWatching, openChat},
	}
	for _, tr := range transports {
		for _, kind := range kinds {
			for _, end := range []endStyle{endCtxErr, endNilOnDraining} {
				t.Run(fmt.Sprintf("%s/%s/%v", tr.name, kind.name, end), func(t *testing.T) {
					t.Parallel()
					svc := newService("a")
					svc.chat, svc.end = kind.chat, end
					s, d := tr.start(t, svc, nil)
					rpcErr := kind.open(t, dialServer(t, s), svc)

					ctx, cancel := context.WithTimeout(context.Background(), longLivedBudget)
					defer cancel()
					start := time.Now()
					require.NoError(t, d.Drain(ctx), "the drain must end the stream, not the forced stop")
					took := time.Since(start)

					err := waitErr(t, rpcErr, "stream")
					assert.Equal(t, codes.Unavailable, status.Code(err), "final status: %v", err)
					assert.Contains(t, status.Convert(err).Message(), grpcdrain.ErrDraining.Error())
					// The stream ran until DefaultStreamEndLead before the
					// deadline (less a little: ctx was made before start).
					assert.GreaterOrEqual(t, took, longLivedBudget-time.Second-100*time.Millisecond)
					waitClosed(t, d.Stopped(), "GracefulStop returned")
				})
			}
		}
	}
}
