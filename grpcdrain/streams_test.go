package grpcdrain_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
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
	// themselves run: the drain tells them to end the default lead (1 s)
	// before its deadline.
	longLivedBudget = 2 * time.Second
	// streamEndLead is WithStreamEndLead's default.
	streamEndLead = time.Second
)

// transport is a way a test server is reached.
type transport struct {
	name  string
	start func(t *testing.T, svc *service, trig trigger, opts ...grpcdrain.Option) (*server, *grpcdrain.Server)
}

// transports are the ways a test server is reached on loopback, in real
// time.
var transports = []transport{
	{"plaintext", startDrained},
	{"TLS", startDrainedTLS},
}

// memTransports are the same over an in-memory listener, for tests in a
// synctest bubble.
var memTransports = []transport{
	{"plaintext", startDrainedMem},
	{"TLS", startDrainedMemTLS},
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
// handlers do when their context ends. Each case has a server of its own,
// and all the servers drain at once, as the shutdown sequence drains them.
// It runs on the fake clock of a synctest bubble, over an in-memory
// listener: in real time on a busy machine, the first streams could end
// before the last ones were open.
func TestAcceptedStreamsComplete(t *testing.T) {
	t.Parallel()
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
	for _, tr := range memTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var cases []drainCase
				for _, kind := range kinds {
					for _, end := range []endStyle{endCtxErr, endNilOnDraining} {
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
						cases = append(cases, drainCase{name: fmt.Sprintf("%s, %v", kind.name, end), srv: d, result: result})
					}
				}
				drainAll(t, cases, finiteBudget)
				for _, c := range cases {
					require.NoError(t, c.drainErr, c.name)
					r := c.wait(t)
					assert.NoError(t, r.err, "%s: final status", c.name)
					assert.Equal(t, finiteMessages, r.got, "%s: messages received: %v", c.name, r)
				}
			})
		})
	}
}

// drainCase is a server with one stream in flight.
type drainCase struct {
	name     string
	srv      *grpcdrain.Server
	result   <-chan streamResult // what the client saw of the stream
	drainErr error
	took     time.Duration
}

// wait returns what the client saw of the stream.
func (c *drainCase) wait(t *testing.T) streamResult {
	t.Helper()
	select {
	case r := <-c.result:
		return r
	case <-time.After(waitBound):
		t.Fatalf("%s: the stream did not end within %v", c.name, waitBound)
		return streamResult{}
	}
}

// drainAll checks that every server has its stream in flight, then
// drains them all at once with the same budget.
func drainAll(t *testing.T, cases []drainCase, budget time.Duration) {
	t.Helper()
	for _, c := range cases {
		require.EqualValues(t, 1, c.srv.InFlight(), "%s: the stream must be in flight when the drain starts", c.name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range cases {
		wg.Go(func() {
			cases[i].drainErr = cases[i].srv.Drain(ctx)
			cases[i].took = time.Since(start)
		})
	}
	wg.Wait()
	for _, c := range cases {
		waitClosed(t, c.srv.Stopped(), c.name+": GracefulStop returned")
	}
}

// finiteTicks receives Ticks until it ends; the service sends
// finiteMessages.
func finiteTicks(cc *grpc.ClientConn, started func()) streamResult {
	return recvTicks(cc, started, finiteMessages)
}

// recvTicks receives a Ticks stream of n ticks to its end, calling started
// once the stream is open and after each tick; got is the ticks received.
func recvTicks(cc *grpc.ClientConn, started func(), n int) streamResult {
	defer started()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	stream, err := testpb.NewTestClient(cc).Ticks(ctx, &testpb.TicksRequest{IntervalMs: finiteInterval.Milliseconds()})
	if err != nil {
		return streamResult{err: err}
	}
	var r streamResult
	for range n + 1 {
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
// themselves are ended by the drain the lead before its deadline, with a
// status that tells the client to go elsewhere, whatever their handlers
// return, and without the forced stop: a handler blocked in Recv included.
// It runs on the fake clock of a synctest bubble, over an in-memory
// listener, so the moment is exact.
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
	for _, tr := range memTransports {
		t.Run(tr.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var cases []drainCase
				for _, kind := range kinds {
					for _, end := range []endStyle{endCtxErr, endNilOnDraining} {
						svc := newService("a")
						svc.chat, svc.end = kind.chat, end
						s, d := tr.start(t, svc, nil)
						rpcErr := kind.open(t, dialServer(t, s), svc)
						result := make(chan streamResult, 1)
						go func() { result <- streamResult{err: <-rpcErr} }()
						cases = append(cases, drainCase{name: fmt.Sprintf("%s, %v", kind.name, end), srv: d, result: result})
					}
				}
				drainAll(t, cases, longLivedBudget)
				for _, c := range cases {
					require.NoError(t, c.drainErr, "%s: the drain must end the stream, not the forced stop", c.name)
					err := c.wait(t).err
					assert.Equal(t, codes.Unavailable, status.Code(err), "%s: final status: %v", c.name, err)
					assert.Contains(t, status.Convert(err).Message(), grpcdrain.ErrDraining.Error(), c.name)
					// The stream ran until the default lead before the
					// deadline, and its handler returned at once.
					assert.Equal(t, longLivedBudget-streamEndLead, c.took, c.name)
				}
			})
		})
	}
}
