package grpcdrain_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
)

// forcedBudget is the drain budget of the cases that must be forced: short,
// since the drain waits for all of it.
const forcedBudget = time.Second

// endlessChat names the Chat streams endless: they are told to end when
// the drain starts.
var endlessChat = grpcdrain.WithEndlessStreams(testpb.Test_Chat_FullMethodName)

// openRPC starts one RPC on cc, returns once its handler runs on svc, and
// returns a channel that receives the RPC's final error (nil for a
// response or a clean end of stream).
type openRPC func(t *testing.T, cc *grpc.ClientConn, svc *service) <-chan error

// TestDrainReturnsByTheDeadline checks when the drain returns, on the fake
// clock of a synctest bubble over an in-memory listener: as soon as the
// last handler has returned, or exactly at its deadline, whatever the
// handlers do.
func TestDrainReturnsByTheDeadline(t *testing.T) {
	tests := []struct {
		name       string
		opts       []grpcdrain.Option
		chat       chatMode
		open       openRPC
		budget     time.Duration // of the drain; 0: waitBound, or forcedBudget if wantForced
		wantForced bool
		wantCode   codes.Code    // of the RPC's final error
		took       time.Duration // what the drain takes, exactly, on the fake clock
	}{
		{name: "health watch ends at once", open: openWatch, wantCode: codes.Unavailable},
		// The lead (1 s) is clamped to half the budget: the stream is told
		// to end after half of it.
		{name: "server stream until the lead", open: openTicks, budget: time.Second, wantCode: codes.Unavailable, took: 500 * time.Millisecond},
		{name: "endless bidi blocked in Recv", opts: []grpcdrain.Option{endlessChat}, open: openChat, wantCode: codes.Unavailable},
		{name: "endless bidi watching its context", opts: []grpcdrain.Option{endlessChat}, chat: chatWatching, open: openChat, wantCode: codes.Unavailable},
		{name: "unary in flight completes", open: openCall(200), wantCode: codes.OK, took: 200 * time.Millisecond},
		{name: "unary ignoring its context", open: openCall(-1), wantForced: true, wantCode: codes.Unavailable, took: forcedBudget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				svc := newService("a")
				svc.chat = tt.chat
				s, d := startDrainedMem(t, svc, nil, tt.opts...)
				rpcErr := tt.open(t, dialServer(t, s), svc)

				budget := tt.budget
				switch {
				case budget > 0:
				case tt.wantForced:
					budget = forcedBudget
				default:
					budget = waitBound
				}
				ctx, cancel := context.WithTimeout(context.Background(), budget)
				defer cancel()
				start := time.Now()
				err := d.Drain(ctx)
				took := time.Since(start)
				close(svc.release)

				if tt.wantForced {
					require.ErrorIs(t, err, grpcdrain.ErrForced)
					require.ErrorIs(t, err, context.DeadlineExceeded)
				} else {
					require.NoError(t, err)
				}
				// At the deadline, whatever the handlers do.
				assert.Equal(t, tt.took, took)
				assert.Equal(t, tt.wantCode, status.Code(waitErr(t, rpcErr, "rpc")), "final status of the RPC")
				waitClosed(t, d.Stopped(), "GracefulStop returned")
				assert.Zero(t, d.InFlight())
			})
		})
	}
}

func openWatch(t *testing.T, cc *grpc.ClientConn, _ *service) <-chan error {
	stream, err := healthgrpc.NewHealthClient(cc).Watch(context.Background(), &healthgrpc.HealthCheckRequest{})
	require.NoError(t, err)
	first, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, healthgrpc.HealthCheckResponse_SERVING, first.Status)
	return drainStream(func() error { _, err := stream.Recv(); return err })
}

func openChat(t *testing.T, cc *grpc.ClientConn, _ *service) <-chan error {
	stream, err := testpb.NewTestClient(cc).Chat(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&testpb.ChatMessage{Text: "hello"}))
	echo, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, "hello", echo.Text)
	return drainStream(func() error { _, err := stream.Recv(); return err })
}

func openTicks(t *testing.T, cc *grpc.ClientConn, _ *service) <-chan error {
	stream, err := testpb.NewTestClient(cc).Ticks(context.Background(), &testpb.TicksRequest{IntervalMs: 10})
	require.NoError(t, err)
	_, err = stream.Recv()
	require.NoError(t, err)
	return drainStream(func() error { _, err := stream.Recv(); return err })
}

// openCall returns an openRPC for a unary call held delayMs by its handler
// (negative: until the test releases it, ignoring its context).
func openCall(delayMs int64) openRPC {
	return func(t *testing.T, cc *grpc.ClientConn, svc *service) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := testpb.NewTestClient(cc).Call(context.Background(), &testpb.CallRequest{DelayMs: delayMs})
			done <- err
		}()
		waitEntered(t, svc, "Call")
		return done
	}
}

// drainStream receives until the stream ends, in a goroutine, and sends
// its final error: nil for a clean end (io.EOF). It reads at most a
// bounded number of messages.
func drainStream(recv func() error) <-chan error {
	done := make(chan error, 1)
	go func() {
		for range 1_000_000 {
			if err := recv(); err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				done <- err
				return
			}
		}
		done <- errors.New("stream did not end")
	}()
	return done
}
