// Package grpcdrain drains a gRPC server (google.golang.org/grpc) without
// failing an RPC and without hanging. It is the gRPC counterpart of
// httpdrain and knows nothing of the shutdown sequence that drives it: it
// takes the sequence as a [Lifecycle], and gives it a drain step,
// [Server.Drain].
//
// One call sets it up, with seq from the shutdown package:
//
//	srv := grpcdrain.NewServer(seq, grpcdrain.WithServerOptions(grpc.Creds(creds)),
//		grpcdrain.WithEndlessStreams(workpb.Work_Watch_FullMethodName))
//	workpb.RegisterWorkServer(srv, impl) // *grpcdrain.Server embeds *grpc.Server
//	seq.Serve("grpc", func() error { return srv.ListenAndServe(":8081") }, srv.Drain)
//
// What happens, phase by phase:
//
//   - At the trigger (the Lifecycle's Triggered channel closes), the
//     standard health service (grpc.health.v1), registered by [NewServer],
//     puts every service NOT_SERVING, latched, so that clients doing
//     client-side health checking (round_robin with healthCheckConfig),
//     grpc-health-probe and Kubernetes' gRPC probes stop sending here.
//     Nothing else changes: through the propagation delay the server
//     accepts connections and serves RPCs as before.
//   - When the drain starts ([Server.Drain] is called), the listeners
//     close and every connection gets GOAWAY, so that clients open new
//     RPCs elsewhere; unary calls and streams in flight go on. Health Watch
//     streams and the streams of [WithEndlessStreams] are told to end at
//     once (spread over [WithDrainWindow] if given).
//   - [WithStreamEndLead] before the drain's deadline, the streams still
//     open are told to end (spread over [WithDrainWindow] if given).
//   - Drain returns nil as soon as the last handler has returned. At the
//     deadline, it stops the server instead: the connections close, the
//     RPCs still in flight fail with codes.Unavailable, and Drain returns
//     an error wrapping [ErrForced].
//
// The package does not retry, does not register reflection or any service
// besides health, and does not drain a grpc.Server it did not create:
// calling the embedded GracefulStop or Stop bypasses the drain. It does
// not log; Drain's error says what happened. Measured costs (the
// interceptors' overhead, how long drains take) are in the README's
// Measurements section, each with its command.
//
// # Streams
//
// GracefulStop alone hangs on streams that never end by themselves, such as
// health Watch streams (grpc-go#8776), subscriptions and bidi sessions
// (grpc-go#1355); Stop alone cuts finite streams short. The drain does
// neither: every stream accepted before the drain runs on, so a download, a
// page of results or an upload that fits in the drain's budget completes.
// Streams still open [WithStreamEndLead] before the deadline are told to
// end, which leaves their handlers time to return before the forced stop:
//
//   - the stream's context is cancelled, with cause [ErrDraining];
//   - a RecvMsg (Recv) pending or called later returns codes.Unavailable,
//     so a handler blocked in Recv returns too. The message it was waiting
//     for may still be written into the message passed to RecvMsg until
//     the stream ends: do not read or reuse it after that error;
//   - whatever the handler then returns — nil, the context's error, the
//     error of Recv — the client gets codes.Unavailable with a message
//     saying the server is draining: the code that tells it to open the
//     stream again elsewhere. A stream the drain ended never looks to its
//     client as if it had completed. Only a status of the handler's own
//     (status.Error with a code other than Canceled) reaches the client as
//     it is.
//
// So a handler needs nothing special for the drain: return when the
// context ends, as for a client that goes away. A stream that completes in
// the instant the drain ends it may still be reported as Unavailable to a
// client that has had every message: a client that retries must tolerate a
// duplicate, never a loss. A handler blocked in Send because its client
// does not read is not woken by the notice; the forced stop ends it.
//
// Health Watch streams are ended as soon as the drain starts, since they
// would otherwise hold it for no purpose, and so are the streams of the
// methods named with [WithEndlessStreams]: subscriptions, watches, bidi
// sessions, whose clients then open them again on another server at once.
// The drain then ends as soon as the finite streams and the unary calls in
// flight have, instead of [WithStreamEndLead] before its deadline. Unary
// calls are never told anything: they run to completion, or to the forced
// stop.
package grpcdrain
