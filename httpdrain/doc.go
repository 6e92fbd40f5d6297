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
package httpdrain
