package main

import (
	"crypto/tls"
	"net/http"
	"time"

	"github.com/lameduck/lameduck/examples/internal/store"
)

// newServer returns the traffic server: /work on HTTP/1.1 and on h2c
// (HTTP/2 without TLS, as a service mesh or a load balancer speaks it to a
// pod) over a plain listener, and on HTTP/1.1 and HTTP/2 over a TLS
// listener configured by [tlsConfig].
func newServer(st *store.Store) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/work", workHandler(st))
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	protocols.SetHTTP2(true) // only used on *tls.Conn that negotiated "h2"
	return &http.Server{
		Handler:           mux,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
	}
}

// tlsConfig returns base with the ALPN protocols of the traffic server:
// HTTP/2 preferred, HTTP/1.1 for clients that do not offer "h2". A client
// offering neither gets HTTP/1.1 (crypto/tls: a server with NextProtos
// accepts a ClientHello without ALPN).
func tlsConfig(base *tls.Config) *tls.Config {
	c := base.Clone()
	c.NextProtos = []string{"h2", "http/1.1"}
	return c
}
