package grpcdrain

import (
	"math"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// WithMaxConnectionAge makes [NewServer] pass grpc.KeepaliveParams with
// keepalive.ServerParameters.MaxConnectionAge set to d: the server sends
// GOAWAY on every connection once it is about d old (grpc-go adds ±10%
// jitter), and the client opens a new one, going through its resolver and
// load balancer again. MaxConnectionAgeGrace stays
// infinite, so an aged connection never cuts an RPC: it closes when its last
// RPC ends (the drain's deadline still bounds that).
//
// When it matters: a client whose connection is balanced once, at connect
// time, and then kept forever — pick_first behind a ClusterIP Service
// (kube-proxy picks a pod per connection), an L4 cloud load balancer, a
// proxy that pools upstream connections. Such a client never notices the
// health service going NOT_SERVING; it keeps sending here until the drain's
// GOAWAY, which is still fine for zero failed RPCs. The age matters for the
// pods that come up: without it, clients moved by a rolling restart pile on
// the pods that were restarted first, and new pods of a scale-up get no
// traffic from them at all. It does not matter for clients doing
// client-side health checking against a resolver that lists every pod
// (headless Service with round_robin and healthCheckConfig, xDS): they
// already spread their RPCs and leave this pod at the trigger.
//
// Pick an age of minutes, not seconds (every reconnect costs a handshake),
// and do not pass grpc.KeepaliveParams in [WithServerOptions] as well: the
// later option wins and replaces all of its fields.
//
// An age <= 0 turns recycling off (grpc-go's own default). An age under
// 1 ms is clamped to 1 ms: shorter ones are a unit mistake, and under
// 10 ns grpc-go cannot compute its jitter and crashes the process at the
// first connection. An age too long for grpc-go to add its jitter to
// without overflowing (about 265 years) is clamped to the longest it can
// take, which never recycles a connection in practice. Defaults to 0.
func WithMaxConnectionAge(d time.Duration) Option {
	return func(c *config) { c.maxConnectionAge = clampAge(d) }
}

// minConnectionAge is the shortest age WithMaxConnectionAge sets besides 0.
const minConnectionAge = time.Millisecond

// maxJitteredAge is the longest age grpc-go can add its jitter (up to
// +10 %) to without overflowing into a negative age, which would recycle
// the connection at once.
const maxJitteredAge = time.Duration(math.MaxInt64 / 11 * 10)

// clampAge returns the age WithMaxConnectionAge(d) sets: 0 (off) for
// d <= 0, else d within [minConnectionAge, maxJitteredAge].
func clampAge(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return min(max(d, minConnectionAge), maxJitteredAge)
}

// keepaliveOption returns the server option WithMaxConnectionAge asks for,
// or nil when it was not used.
func (c config) keepaliveOption() grpc.ServerOption {
	if c.maxConnectionAge == 0 {
		return nil
	}
	return grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: c.maxConnectionAge})
}
