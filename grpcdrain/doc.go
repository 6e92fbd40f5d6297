// Package grpcdrain drains a *grpc.Server (google.golang.org/grpc) without
// failing an RPC and without hanging. It is the gRPC counterpart of
// httpdrain and knows nothing of the shutdown sequence that drives it: it
// takes the sequence's triggered channel, at which the standard health
// service (grpc.health.v1) goes NOT_SERVING for every service, latched, so
// that clients doing client-side health checking (round_robin with
// healthCheckConfig), grpc-health-probe and Kubernetes' gRPC probes stop
// sending here while the server still serves; and it gives the sequence a
// drain step, [Drainer.Drain]: GracefulStop bounded by the step's deadline,
// then Stop. GracefulStop alone hangs on streams that never end by
// themselves — health Watch streams (grpc-go#8776), subscriptions and bidi
// sessions (grpc-go#1355) — so the stream interceptor hands stream handlers
// a context that the drain cancels, with cause [ErrDraining], early enough
// for them to finish cleanly before the forced stop.
//
// Wiring, with seq from the shutdown package:
//
//	d, err := grpcdrain.New(seq.Triggered())
//	srv := grpc.NewServer(d.ServerOptions()...)
//	hs := health.NewServer()
//	healthgrpc.RegisterHealthServer(srv, hs)
//	d.Attach(srv, hs)
//	seq.Add("grpc", d.Drain)
package grpcdrain
