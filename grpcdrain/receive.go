package grpcdrain

import (
	"context"
	"errors"

	"google.golang.org/grpc"
)

// receivingStream is the stream of a client-streaming or bidi handler: its
// RecvMsg also returns when the drain tells the stream to end, while no
// message has come.
//
// grpc-go ends a pending RecvMsg only when the stream ends (the transport's
// recvBufferReader waits on the stream's context, internal/transport), and
// the stream ends when its handler returns: a handler blocked in RecvMsg
// would wait for the forced stop. Cancelling the stream's transport context
// instead (through grpc.InTapHandle) would end RecvMsg, but grpc-go then
// writes the status Canceled itself (serverStream.RecvMsg in stream.go),
// before the handler can say anything; the client would think it cancelled.
// So the real RecvMsg runs in a goroutine of the stream's own, started at the
// first RecvMsg, and RecvMsg waits for it or for the notice; once the handler
// has returned, its end ends the stream and with it the pending RecvMsg and
// the goroutine.
type receivingStream struct {
	grpc.ServerStream
	ctx     context.Context // cancelled with ErrDraining at the notice
	reqs    chan any        // messages for the goroutine to receive into
	errs    chan error      // its RecvMsg results; room for an abandoned one
	done    chan struct{}   // closed when the handler has returned
	running bool            // the goroutine was started; RecvMsg calls are serial (grpc.ServerStream)
}

func newReceivingStream(ss grpc.ServerStream, ctx context.Context) *receivingStream {
	return &receivingStream{
		ServerStream: ss,
		ctx:          ctx,
		reqs:         make(chan any),
		errs:         make(chan error, 1),
		done:         make(chan struct{}),
	}
}

func (s *receivingStream) Context() context.Context { return s.ctx }

// RecvMsg receives the next message into m, like the stream's own RecvMsg,
// and returns errStreamEnded as soon as the drain has told the stream to
// end. Then the message it was waiting for may still be written into m
// until the stream ends.
func (s *receivingStream) RecvMsg(m any) error {
	if s.drained() {
		return errStreamEnded
	}
	if !s.running {
		s.running = true
		go s.receive()
	}
	select {
	case s.reqs <- m:
	case <-s.done:
		// A goroutine of the handler's receives after the handler returned:
		// the stream is over and RecvMsg returns at once.
		return s.ServerStream.RecvMsg(m)
	}
	select {
	case err := <-s.errs:
		return err
	case <-s.ctx.Done():
		if s.drained() {
			return errStreamEnded
		}
		// The stream's own context ended (the client cancelled, its
		// deadline passed): the pending RecvMsg returns at once with that.
		return <-s.errs
	}
}

// drained reports whether the drain told the stream to end.
func (s *receivingStream) drained() bool {
	return s.ctx.Err() != nil && errors.Is(context.Cause(s.ctx), ErrDraining)
}

// receive runs the stream's RecvMsg for RecvMsg, until close.
func (s *receivingStream) receive() {
	for {
		select {
		case m := <-s.reqs:
			s.errs <- s.ServerStream.RecvMsg(m)
		case <-s.done:
			return
		}
	}
}

// close tells the goroutine that the handler has returned.
func (s *receivingStream) close() { close(s.done) }
