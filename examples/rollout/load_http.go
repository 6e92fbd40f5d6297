package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/lameduck/lameduck/examples/internal/selfsigned"
	"github.com/lameduck/lameduck/internal/loadtest"
)

// httpLane is one keep-alive connection (HTTP/1.1, or HTTP/2: h2c with
// prior knowledge, or h2 chosen by ALPN over TLS) that POSTs to /work.
// Requests on an HTTP/1.1 lane queue for its single connection; HTTP/2
// requests are multiplexed on it.
//
// On HTTP/1.1, net/http's transport cannot resend the body on a fresh
// connection. On HTTP/2 (h2c or over TLS alike) it may resend only a
// stream the server refused unprocessed (loadtest.HTTP's ResendRefused):
// grpc-go does it even with retries disabled, and Go's server sends a
// single GOAWAY (h2_bundle.go, goAway), which races with any stream a
// busy client opens meanwhile. Such resends are counted; the written rows
// show whether any request was processed twice.
type httpLane struct {
	loadtest.HTTP
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
	return &httpLane{loadtest.HTTP{
		Client:        &http.Client{Transport: tr},
		URL:           fmt.Sprintf("%s://%s/work?d=%s", scheme, addr, work),
		Body:          `{"work":1}`,
		ResendRefused: h2,
	}}
}

// Close closes the lane's idle connection.
func (l *httpLane) Close() { l.Client.CloseIdleConnections() }
