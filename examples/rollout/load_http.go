package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lameduck/lameduck/examples/internal/selfsigned"
)

// httpLane is one keep-alive connection (HTTP/1.1, or HTTP/2: h2c with
// prior knowledge, or h2 chosen by ALPN over TLS) that POSTs to /work.
// Requests on an HTTP/1.1 lane queue for its single connection; HTTP/2
// requests are multiplexed on it.
type httpLane struct {
	client *http.Client
	url    string
	h2     bool
	resent atomic.Int64
}

// newHTTPLane returns a lane to addr; h2 selects HTTP/2. With cert the
// lane speaks TLS, trusts only cert and offers one ALPN protocol, so a
// server that would not speak h2 fails the lane instead of downgrading it.
func newHTTPLane(addr string, work time.Duration, h2 bool, cert *selfsigned.Cert) *httpLane {
	tr := &http.Transport{
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     time.Minute,
		Protocols:           new(http.Protocols),
	}
	scheme := "http"
	switch {
	case cert != nil && h2:
		scheme = "https"
		tr.Protocols.SetHTTP2(true)
		tr.TLSClientConfig = cert.ClientConfig() // the transport adds "h2"
	case cert != nil:
		scheme = "https"
		tr.Protocols.SetHTTP1(true)
		tr.TLSClientConfig = cert.ClientConfig("http/1.1")
	case h2:
		tr.Protocols.SetUnencryptedHTTP2(true)
	default:
		tr.Protocols.SetHTTP1(true)
	}
	return &httpLane{
		client: &http.Client{Transport: tr},
		url:    fmt.Sprintf("%s://%s/work?d=%s", scheme, addr, work),
		h2:     h2,
	}
}

// Send POSTs once. On HTTP/1.1, GetBody is nil, so net/http's transport
// cannot resend the body on a fresh connection. On HTTP/2 (h2c or over
// TLS alike) it may resend
// only a stream the server refused unprocessed (its ID is above the
// GOAWAY's last stream ID, or REFUSED_STREAM): RFC 9113 section 8.7 says
// such a request is safe to retry, grpc-go does it even with retries
// disabled, and Go's server sends a single GOAWAY (h2_bundle.go,
// goAway), which races with any stream a busy client opens meanwhile.
// Such resends are counted; the written rows show whether any request
// was processed twice.
func (l *httpLane) Send(ctx context.Context) error {
	attempts := 0
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { attempts++ }})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, strings.NewReader(`{"work":1}`))
	if err != nil {
		return err
	}
	if !l.h2 {
		req.GetBody = nil
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if attempts > 1 {
		l.resent.Add(int64(attempts - 1))
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{kind: fmt.Sprint(resp.StatusCode), msg: resp.Status}
	}
	return nil
}

// Resent is the number of unprocessed streams resent so far.
func (l *httpLane) Resent() int { return int(l.resent.Load()) }

// Close closes the lane's idle connection.
func (l *httpLane) Close() { l.client.CloseIdleConnections() }
