package loadtest

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"google.golang.org/grpc/status"
)

// Error is a failure whose reason the sender knows: an answer that
// arrived but was not a success, or a kind of failure of its own, such as
// a stream that ended early. [Reason] reports its Reason.
type Error struct {
	Reason string // short, for counting: "503", "truncated"
	Err    error  // the failure itself
}

func (e *Error) Error() string { return e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Reason names why a request failed, for counting: the Reason of an
// [*Error] in err's chain, else a gRPC status code ("Unavailable"), else
// one of "refused", "reset", "broken pipe", "EOF" or "timeout", else a
// phrase from the message of the errors net/http's HTTP/2 client does not
// wrap ("GOAWAY", "connection lost", ...), else "other".
func Reason(err error) string {
	var le *Error
	if errors.As(err, &le) {
		return le.Reason
	}
	if s, ok := status.FromError(err); ok {
		return s.Code().String()
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	msg := err.Error()
	for _, s := range []string{"GOAWAY", "connection lost", "could not be established", "connection reset", "EOF", "refused"} {
		if strings.Contains(msg, s) {
			return s
		}
	}
	return "other"
}
