// Package httpdrain drains an [net/http.Server] without failing a request:
// it is the HTTP step of the shutdown sequence that package shutdown runs.
// A [Drainer] watches a lifecycle signal (a channel closed once when the
// sequence is triggered, usually shutdown's Triggered) and from then on makes
// every response carry "Connection: close", so keep-alive clients reconnect
// through the load balancer while the server still accepts them; its
// [Drainer.Drain] method is a plain func(context.Context) error step that
// stops accepting, lets in-flight requests finish, closes idle and never-used
// connections without cutting a request short, waits for hijacked
// (WebSocket) connections and for work registered with
// [Drainer.RegisterOnShutdown], and at the context's deadline forces the rest
// closed so that later steps still run. It imports no other package of the
// module; package readiness reports the same trigger to the load balancer.
//
// # HTTP/2 clients must retry refused streams
//
// net/http's HTTP/2 server ends a connection with a single GOAWAY naming the
// last stream it has read (h2_bundle.go, startGracefulShutdownInternal), not
// the two-step GOAWAY RFC 9113 §6.8 suggests. A request the client sent in
// the same instant is refused unprocessed, and RFC 9113 §8.7 lets the client
// send it again: browsers, curl and Envoy do so by themselves; Go's
// http.Transport does for requests whose GetBody is set (http.NewRequest
// sets it for in-memory bodies). A client that never resends sees such a
// request fail, rarely (in the h2c load test of examples/http, one request
// in two runs of ten, about 110 requests each). No server-side setting of net/http avoids it; the request was
// never processed, so resending it cannot apply it twice.
package httpdrain
