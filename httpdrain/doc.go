// Package httpdrain drains an [net/http.Server] without failing a request:
// it is the HTTP step of the shutdown sequence that package shutdown runs.
// A [Drainer] watches the sequence's trigger through a [Lifecycle]
// (*shutdown.Sequence implements it) and from then on makes every HTTP/1
// response carry "Connection: close", so keep-alive clients reconnect
// through the load balancer while the server still accepts them (HTTP/2
// connections get their GOAWAY at the drain, see below); its
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
// in two runs of ten, about 110 requests each). No server-side setting of
// net/http avoids it; the request was never processed, so resending it
// cannot apply it twice. That is why the
// lame-duck phase does not turn "Connection: close" into a GOAWAY on HTTP/2
// connections: each GOAWAY is one more chance of a refused stream, and a
// client reconnecting after one may well land on the same server while the
// load balancer still routes to it. The drain sends one per connection. In
// the HTTPS load test of this package (4 workers, 800 non-replayable POSTs
// across trigger, delay and drain), a GOAWAY at the trigger refused 21
// requests in 10 runs; one at the drain only, 7.
//
// After its GOAWAY, net/http keeps an HTTP/2 connection open for a second
// once its last stream is over (h2_bundle.go, goAwayTimeout), and Shutdown
// waits for it, unless the client closes it first: Go's client does when
// its last stream ends, not when the GOAWAY finds the connection idle. On
// Linux, the drain does not wait that second: once a connection has sent
// something since the GOAWAY was due, has no stream open, and has been
// quiet for 25ms, nothing sent or received and nothing left unread, the
// drain shuts down its write side: the kernel sends a FIN behind the
// bytes already sent. The client reads every frame, the GOAWAY included,
// then the end of the connection, and closes it; a request it sends in that instant was
// refused by the GOAWAY already, and meets a socket that still reads
// rather than a reset. The 25ms cover the server's flush of the last
// stream's frames, which follows the report that the connection is idle.
// Elsewhere, or for a client that keeps the connection after the end,
// the server closes it after the second, as under plain Shutdown.
//
// # Streaming responses
//
// A response that never ends by itself (server-sent events, a long poll, a
// streaming download or body, a WebSocket) would hold the drain until its
// deadline and be cut there. [StreamContext] gives its handler a context
// that ends, with cause [ErrDraining], when the drain starts, after the
// propagation delay, or over a window with [WithDrainWindow] (the
// model is k8s.io/apiserver, which ends watches at shutdown and lets other
// requests finish). It is opt-in: r.Context() is not cancelled by the
// drain, so finite requests, and the database queries they run with their
// context, complete. What the client sees when the handler ends its
// stream and returns:
//   - server-sent events over HTTP/1.1: the last event the handler sent,
//     then the final chunk, a clean end; the connection closes after it
//     (the lame-duck phase's "Connection: close"), and the client
//     (EventSource) reconnects, through the load balancer, elsewhere;
//   - over HTTP/2: the stream ends with END_STREAM; the connection has had
//     its GOAWAY, so the client opens its next stream on a new one;
//   - a WebSocket: its owner, told by a context made with
//     StreamContext(context.WithoutCancel(r.Context())) in the handler,
//     sends a close frame with status 1001 (Going Away), waits for the
//     client's close frame, and closes the connection (RFC 6455 §7.4.1).
//     The drain waits for hijacked connections to be closed until its
//     deadline, then closes them.
//
// In TestStreamContextEndsEventStream (HTTP/1.1, HTTPS/1.1, HTTPS/2, h2c)
// an event stream ends cleanly with its last event at the drain's start
// while a finite request on the same server completes with its context
// alive, and the drain returns nil; in TestStreamContextHijacked (ws, wss)
// the client gets the close frame 1001 and the drain returns once the
// owner has closed the connection.
//
// # TLS
//
// A TLS connection whose handshake is under way when the drain starts is
// served if the handshake and the request that follows arrive within the
// drain's header grace (500ms from its start): the drain waits for them
// before it stops the server (net/http drops a request it reads after
// Shutdown started); over HTTP/2 it waits for the first stream before the
// GOAWAY. A connection that completes its handshake and then
// sends nothing for 100ms is closed like a never-used one. A client that
// sends half a request header right behind its handshake and then stalls
// for longer can have it cut, where a plaintext one would be waited for:
// the kernel cannot tell those bytes from the handshake's.
//
// # Idle keep-alive connections
//
// An HTTP/1 connection idle through the whole propagation delay is closed
// by the drain, the only way to end it. A client that sends a request on
// it in the instant the close takes to reach it (a network round trip)
// sees the connection fail, as with Shutdown; Go's http.Transport resends
// such a request on a new connection only if it is idempotent or has
// GetBody. BenchmarkIdleRace measures it through a TCP load balancer on
// loopback, a POST sent at offsets from the drain start up to 10ms; the
// drain closes idle connections as soon as Shutdown would (see the
// README's Known limits for the figures). In BenchmarkIdleRollout (40 clients, about 1,700 POSTs per rollout), the
// drain failed 1 request in 50 rollouts, Shutdown 28. Closing idle
// connections earlier, during the delay, does not help: 2 in 50 for those
// idle 100ms, 7 in 50 for 20ms. Each connection is closed once either way,
// and an early close takes connections that a request would have moved
// away, without a race, with "Connection: close". A client avoids the race by
// closing idle connections itself first, with an idle timeout
// (http.Transport.IdleConnTimeout) shorter than the server's propagation
// delay and its IdleTimeout: a connection idle through the delay is then
// gone before the drain. Otherwise it must resend, on a new connection, a
// request that failed before any byte of the response came back, when the
// request is safe to repeat (idempotent, or with an idempotency key).
//
// # Rebalancing keep-alive connections
//
// A keep-alive client stays on the server its load balancer picked for as
// long as its connection lives. [WithMaxConnectionAge] and
// [WithMaxConnectionRequests] end HTTP/1 connections after an age or a
// number of requests, with "Connection: close" on a response, so that
// clients go through the load balancer again. In
// TestMaxConnectionAgeRebalances (3 servers replaced one at a time behind
// a round-robin balancer that picks a server per connection, 30 keep-alive
// clients), the replacements served 47%, 33% and 20% of the requests
// after the rollout, in the order they came up; with a 300ms age, or 30
// requests per connection, 31-35% each. [WithLameDuckWindow]
// spreads the lame-duck phase's "Connection: close" over a window: in
// TestConnectionCloseWindowSpreadsReconnects, 50 keep-alive clients leaving
// a server reconnected to the remaining one all within 100ms without a
// window, at most 6-8 per 100ms with a 1.5s window.
package httpdrain
