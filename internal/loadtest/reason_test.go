package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestReason(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&Error{Reason: "503", Err: errors.New("status 503")}, "503"},
		{&Error{Reason: "truncated", Err: status.Error(codes.Unavailable, "x")}, "truncated"},
		{status.Error(codes.Unavailable, "x"), "Unavailable"},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "refused"},
		{&os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}, "reset"},
		{syscall.EPIPE, "broken pipe"},
		{fmt.Errorf("post: %w", io.ErrUnexpectedEOF), "EOF"},
		{context.DeadlineExceeded, "timeout"},
		{os.ErrDeadlineExceeded, "timeout"},
		{errors.New("http2: server sent GOAWAY and closed the connection"), "GOAWAY"},
		{errors.New("http2: client conn could not be established"), "could not be established"},
		{errors.New("http2: client connection lost"), "connection lost"},
		{errors.New("something else"), "other"},
	} {
		assert.Equal(t, tt.want, Reason(tt.err), "%v", tt.err)
	}
}
