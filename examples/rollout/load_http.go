package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// httpLane is one keep-alive connection (HTTP/1.1, or h2c with prior
// knowledge) that POSTs to /work. Requests on an HTTP/1.1 lane queue
// for its single connection; h2c requests are multiplexed on it.
type httpLane struct {
	client *http.Client
	url    string
}

// newHTTPLane returns a lane to addr; h2c selects unencrypted HTTP/2.
func newHTTPLane(addr string, work time.Duration, h2c bool) *httpLane {
	tr := &http.Transport{
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     time.Minute,
		Protocols:           new(http.Protocols),
	}
	if h2c {
		tr.Protocols.SetUnencryptedHTTP2(true)
	} else {
		tr.Protocols.SetHTTP1(true)
	}
	return &httpLane{
		client: &http.Client{Transport: tr},
		url:    fmt.Sprintf("http://%s/work?d=%s", addr, work),
	}
}

// Send POSTs a body that cannot be replayed: GetBody is nil, so
// net/http's transport never resends it on a fresh connection, and a
// failure reaches us as it would reach a careful client.
func (l *httpLane) Send(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, strings.NewReader(`{"work":1}`))
	if err != nil {
		return err
	}
	req.GetBody = nil
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
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

// Close closes the lane's idle connection.
func (l *httpLane) Close() { l.client.CloseIdleConnections() }
