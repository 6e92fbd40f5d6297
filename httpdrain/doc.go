// Package httpdrain drains an [net/http.Server] without failing a request:
// it is the HTTP part of the shutdown sequence that package shutdown runs.
// It imports no other package of the module; package readiness reports the
// same trigger to the load balancer.
//
// A [Drainer], made by [New] before the server serves, follows the
// sequence's phases through a [Lifecycle] (*shutdown.Sequence implements
// it):
//
//   - From the trigger (the lifecycle's Triggered channel), the propagation
//     delay: the server keeps accepting and serving, and every HTTP/1
//     response carries "Connection: close", so that keep-alive clients
//     reconnect through the load balancer while this server is still in
//     rotation ([WithLameDuckWindow] spreads those goodbyes). HTTP/2
//     connections over TLS are not told yet: they get their one GOAWAY at
//     the drain.
//   - From [Drainer.Drain], the drain step: the listeners refuse new
//     connections, [Drainer.DrainStarted] closes, the streams of
//     [StreamContext] are told to end, idle and never-used connections are
//     closed unless a request is arriving on them, requests in flight and
//     hijacked connections finish, and at the context's deadline the rest
//     is closed so that the after-drain steps still run. Drain's doc lists
//     the steps and what it returns.
//
// # What the drain guarantees, and what it does not
//
// A request whose header the server has read is served to the end unless
// the drain's context ends first; Drain then reports it with [ErrForced].
// A request whose header (or TLS handshake) is arriving on an idle or new
// connection when the drain starts is served if it arrives within the
// header grace, 500ms from the drain's start; net/http's own Shutdown
// would close such a connection or drop its request. Elsewhere than on
// Linux, where the kernel cannot be asked what a connection has received,
// a connection counts as quiet once its TLS handshake is over, as under
// Shutdown. A TLS connection that completes its handshake and then sends
// nothing for 100ms is closed like a never-used one.
//
// The drain does not cancel r.Context() of a request: finite requests,
// and the database calls they make with their context, complete. Only
// handlers that ask, through [StreamContext], are told to end.
//
// An HTTP/1 connection idle through the whole propagation delay is closed
// at the drain, the only way to end it. A request the client sends on it
// in the instant the close takes to reach it (a network round trip) fails,
// as under Shutdown: net/http cannot close a keep-alive connection without
// that race, and closing idle connections earlier, during the delay, makes
// it more likely, not less (see "Known limits" in the README). A client
// avoids it with an idle timeout (http.Transport.IdleConnTimeout) shorter
// than the propagation delay, or by resending, on a new connection, a
// request that failed before any byte of the response came back, when the
// request is safe to repeat.
//
// # HTTP/2
//
// net/http's HTTP/2 server ends a connection with a single GOAWAY naming
// the last stream it has read (h2_bundle.go, startGracefulShutdownInternal),
// not the two-step GOAWAY RFC 9113 §6.8 suggests, so a stream the client
// opens in the same instant is refused unprocessed. RFC 9113 §8.7 lets the
// client send it again, and browsers, curl, Envoy and Go's http.Transport
// (for requests whose GetBody is set) do; a client that never resends sees
// it fail. That is why a connection over TLS gets one GOAWAY, at the drain,
// and none during the propagation delay. Cleartext HTTP/2 (h2c), which the
// drain cannot tell from an idle HTTP/1 connection, gets it during the
// delay, from the response that carries "Connection: close".
//
// After its GOAWAY, net/http keeps an HTTP/2 connection open for a second
// once its last stream is over (h2_bundle.go, goAwayTimeout), and Shutdown
// waits for it. On Linux, the drain does not: once a connection has sent
// something since its GOAWAY, has no stream open, and has been quiet for
// 25ms (nothing sent, received or left unread), the drain shuts down its
// write side. The client reads every frame, the GOAWAY included, then the
// end of the connection, and closes it. Elsewhere the server closes it after
// the second, as under Shutdown.
//
// # Streaming responses
//
// A response that never ends by itself (server-sent events, a long poll, a
// streaming download, a WebSocket) would hold the drain until its deadline
// and be cut there. [StreamContext] gives its handler a context that ends,
// with cause [ErrDraining], when the drain starts, or at its turn within
// [WithDrainWindow]; the handler ends its response as at the end of the
// stream and returns. The client sees a clean end (the final chunk over
// HTTP/1.1, END_STREAM over HTTP/2) and reconnects elsewhere. A WebSocket
// owner sends a close frame with status 1001 (Going Away) and closes the
// connection (RFC 6455 §7.4.1): the drain waits for hijacked connections
// until its deadline, then closes them.
//
// # Rebalancing keep-alive connections
//
// A keep-alive client stays on the server its load balancer picked for as
// long as its connection lives. [WithMaxConnectionAge] and
// [WithMaxConnectionRequests] end HTTP/1 connections after an age or a
// number of requests, with "Connection: close" on a response, so that
// clients go through the load balancer again.
//
// The README's "Measurements" and "Known limits" sections give the measured
// cost of the middleware and of the drain, with the commands that measure
// them.
package httpdrain
