package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
)

// HTTP sends one POST per call of Send, over the keep-alive connections
// of its Client, with a body net/http cannot replay: Go's client would
// otherwise resend, on a new connection and without telling, a request
// whose connection broke, and hide the failure a real client sees.
//
// A request succeeds when the answer is 200 and Check, if set, accepts
// its body. The fields must not change once Send was called.
type HTTP struct {
	// Client sends the requests; its Transport chooses the protocol
	// (HTTP/1.1, h2c, TLS) and how many connections. Required.
	Client *http.Client
	URL    string // required
	Body   string
	// Check, if not nil, judges the body of a 200 answer (at most
	// 64 KiB of it) to the request that sent sent.
	Check func(sent string, got []byte) error
	// ResendRefused lets an HTTP/2 transport resend a request whose
	// stream the server refused unprocessed (above its GOAWAY's last
	// stream ID, or REFUSED_STREAM), which RFC 9113 section 8.7 says is
	// safe and grpc-go does even with retries disabled. Resent counts
	// them. It has no effect on HTTP/1.1, where a body that could be
	// replayed would also let net/http resend a request the server may
	// have processed.
	ResendRefused bool

	resent atomic.Int64
}

// Send POSTs Body to URL once. A non-200 answer is an [*Error] whose
// Reason is the status code ("503").
func (h *HTTP) Send(ctx context.Context) error {
	attempts := 0
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { attempts++ }})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, strings.NewReader(h.Body))
	if err != nil {
		return err
	}
	if !h.ResendRefused {
		req.GetBody = nil // without it, the transport cannot rewind the body
	}
	resp, err := h.Client.Do(req)
	if attempts > 1 {
		h.resent.Add(int64(attempts - 1))
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case err != nil:
		return err
	case resp.StatusCode != http.StatusOK:
		return &Error{Reason: strconv.Itoa(resp.StatusCode), Err: fmt.Errorf("status %s: %s", resp.Status, bytes.TrimSpace(got))}
	case h.Check != nil:
		return h.Check(h.Body, got)
	}
	return nil
}

// Resent is how many requests the transport sent again because the
// server refused them unprocessed (see ResendRefused).
func (h *HTTP) Resent() int { return int(h.resent.Load()) }

// Echo is a Check for a server that answers with the body it was sent.
// It fails with Reason "wrong body".
func Echo(sent string, got []byte) error {
	if string(got) != sent {
		return &Error{Reason: "wrong body", Err: fmt.Errorf("sent %q, got %q", sent, got)}
	}
	return nil
}
