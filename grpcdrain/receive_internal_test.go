package grpcdrain

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// fakeStream is the receiving side of a stream: RecvMsg returns the next
// message sent on msgs, or errEnded once ended is closed.
type fakeStream struct {
	grpc.ServerStream
	msgs  chan string
	ended chan struct{}
}

var errEnded = errors.New("stream ended")

func (s *fakeStream) RecvMsg(m any) error {
	select {
	case msg := <-s.msgs:
		*m.(*string) = msg
		return nil
	case <-s.ended:
		return errEnded
	}
}

func TestReceivingStream(t *testing.T) {
	tests := []struct {
		name    string
		cause   error // of the handler's context
		wantErr error // of the RecvMsg pending then
	}{
		{"the drain ends a pending RecvMsg", ErrDraining, errStreamEnded},
		{"the stream's own end is the stream's", context.Canceled, errEnded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fs := &fakeStream{msgs: make(chan string), ended: make(chan struct{})}
				ctx, cancel := context.WithCancelCause(context.Background())
				rs := newReceivingStream(fs, ctx)

				go func() { fs.msgs <- "a" }()
				var m string
				require.NoError(t, rs.RecvMsg(&m))
				assert.Equal(t, "a", m)

				pending := make(chan error, 1)
				go func() { pending <- rs.RecvMsg(&m) }()
				synctest.Wait()
				require.Empty(t, pending, "RecvMsg returned with no message and no notice")

				cancel(tt.cause)
				if tt.cause != ErrDraining {
					// The transport ends the real RecvMsg when the
					// stream's context ends.
					close(fs.ended)
				}
				assert.Equal(t, tt.wantErr, <-pending)

				// The handler returns and the stream ends: the goroutine
				// ends with it (synctest.Test fails on one left blocked).
				rs.close()
				select {
				case <-fs.ended:
				default:
					close(fs.ended)
				}
			})
		})
	}
}

func TestReceivingStreamAfterTheNotice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := &fakeStream{msgs: make(chan string), ended: make(chan struct{})}
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(ErrDraining)
		rs := newReceivingStream(fs, ctx)
		var m string
		assert.Equal(t, errStreamEnded, rs.RecvMsg(&m), "no goroutine is started once the drain has told the stream")
		rs.close()
	})
}
