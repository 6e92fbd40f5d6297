package main

import (
	"net/http"
	"time"

	"github.com/lameduck/lameduck/examples/internal/store"
)

// newServer returns the traffic server: /work on HTTP/1.1 and on h2c
// (HTTP/2 without TLS, as a service mesh or a load balancer speaks it to a
// pod).
func newServer(st *store.Store) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/work", workHandler(st))
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           mux,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
	}
}
