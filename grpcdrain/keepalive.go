package grpcdrain

import (
	"fmt"
	"math"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// WithMaxConnectionAge makes [NewServer] pass grpc.KeepaliveParams with
// keepalive.ServerParameters.MaxConnectionAge set to d: the server sends GOAWAY on every connection once it is about d old
// (grpc-go adds ±10% jitter), and the client opens a new one, going through
// its resolver and load balancer again. MaxConnectionAgeGrace stays
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
// and do not pass grpc.KeepaliveParams in [WithServerOptions] as well: the later option
// wins and replaces all of its fields.
//
// An age too long for grpc-go to add its jitter to (over about 265
// years) means no recycling, like 0.
//
// It panics if d is negative or shorter than [MinMaxConnectionAge].
// Defaults to [DefaultMaxConnectionAge].
func WithMaxConnectionAge(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("grpcdrain: WithMaxConnectionAge(%v): the age must not be negative; use 0 to never recycle connections", d))
	}
	if d > 0 && d < MinMaxConnectionAge {
		panic(fmt.Sprintf("grpcdrain: WithMaxConnectionAge(%v): an age under %v recycles every connection as it opens (a missing unit?); pick minutes, or 0 to never recycle connections", d, MinMaxConnectionAge))
	}
	return func(c *config) { c.maxConnectionAge = d }
}

// MinMaxConnectionAge is the shortest age [WithMaxConnectionAge] accepts
// besides 0. Shorter ages are a unit mistake; under 10 ns grpc-go cannot
// compute its jitter and crashes the process at the first connection.
const MinMaxConnectionAge = time.Millisecond

// maxJitteredAge is the longest age grpc-go can add its jitter (up to
// +10 %) to without overflowing into a negative age, which would recycle
// the connection at once.
const maxJitteredAge = time.Duration(math.MaxInt64 / 11 * 10)

// keepaliveOption returns the server option WithMaxConnectionAge asks for,
// or nil when it was not used or the age is too long to matter.
func (c config) keepaliveOption() grpc.ServerOption {
	if c.maxConnectionAge == 0 || c.maxConnectionAge > maxJitteredAge {
		return nil
	}
	return grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: c.maxConnectionAge})
}
