package httpdrain

import (
	"context"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// ageJitter is the spread of each connection's age limit around
// [WithMaxConnectionAge]'s value, as a fraction of it: ±10%, as grpc-go
// and Envoy do, so that connections opened together are not all closed
// together.
const ageJitter = 0.1

// WithMaxConnectionAge makes the Drainer close every HTTP/1 connection that
// is about d old (±10%, drawn per connection): the first response it
// sends after that age carries "Connection: close", and the client opens a
// new connection, which its load balancer may send to another server. It
// is net/http's equivalent of gRPC's MaxConnectionAge and Envoy's
// max_connection_duration.
//
// When it matters: keep-alive clients behind a load balancer that picks a
// server per connection (kube-proxy's ClusterIP Services, L4 cloud load
// balancers, proxies that pool upstream connections) keep their servers for
// as long as their connections live. After a rolling restart, the
// connections moved off each stopped server land on the servers still up,
// so the copy that came up first ends up with most of them and the last
// with few; a scale-up adds servers that existing connections never reach.
// An age spreads them again within about d.
//
// What it does not do: close a connection that is idle (the client may be
// sending a request on it in that instant; srv.IdleTimeout closes idle
// connections), cut a request short, or touch HTTP/2 connections, which
// net/http can end only with a single GOAWAY that may refuse a stream the
// client is opening (see the package doc). Pick an age of minutes, not
// seconds: every new connection costs a handshake, and a TLS one more.
//
// Ages are told by a coarse clock that the Drainer's goroutine advances
// in steps of d/64 (1ms at least) until the lame-duck phase, so a request
// reads no system clock; the option costs a little state per connection,
// kept in the context value [New] gives each connection through
// srv.ConnContext; replacing srv.ConnContext after New disables the option.
//
// A d of 0 or less turns the option off: connections live as long as their
// clients keep them. That is the default. An age too long for the clock to
// reach (centuries, math.MaxInt64 included) never closes a connection.
func WithMaxConnectionAge(d time.Duration) Option {
	return func(c *config) { c.maxAge = max(d, 0) }
}

// WithMaxConnectionRequests makes the Drainer close every HTTP/1
// connection after its n-th response, which carries "Connection: close",
// like nginx's keepalive_requests and Envoy's
// max_requests_per_connection. It rebalances connections by their use
// rather than by their age: a busy connection moves sooner, an idle one
// never (see [WithMaxConnectionAge] for when either matters, and what they
// do not do). HTTP/2 connections are left alone. An n of 0 or less means
// no limit. That is the default.
func WithMaxConnectionRequests(n int) Option {
	return func(c *config) { c.maxRequests = int64(max(n, 0)) }
}

// connKey is the context key of a connection's *connInfo.
type connKey struct{}

// connInfo is what the Drainer keeps of a connection. Only d and conn are set
// unless an option needs the rest (see [config.perConn]).
type connInfo struct {
	d        *Drainer      // the Drainer serving it, for StreamContext
	conn     net.Conn      // see lingerIfPipelined
	expires  int64         // ageClock time at which it is due to close; 0: never
	turn     time.Duration // when, after the lame-duck phase starts, it is told to close
	requests atomic.Int64  // requests it carried
}

// trackConns makes srv give each connection a connInfo, through
// srv.ConnContext, chained after the function already set there.
func (d *Drainer) trackConns() {
	prev := d.srv.ConnContext
	d.srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prev != nil {
			ctx = prev(ctx, c)
		}
		ci := &connInfo{d: d, conn: c}
		if d.cfg.perConn {
			d.cfg.initConnInfo(ci, d.clock.now.Load())
		}
		return context.WithValue(ctx, connKey{}, ci)
	}
}

// newConnInfo returns the state of a connection accepted at now, an
// ageClock time.
func (c *config) newConnInfo(now int64) *connInfo {
	ci := new(connInfo)
	c.initConnInfo(ci, now)
	return ci
}

// initConnInfo sets the state of ci, a connection accepted at now, an
// ageClock time.
func (c *config) initConnInfo(ci *connInfo, now int64) {
	ci.turn = time.Duration(rand.Float64() * float64(c.lameWindow))
	if c.maxAge > 0 {
		jitter := (2*rand.Float64() - 1) * ageJitter
		ci.expires = expiry(now, float64(c.maxAge)*(1+jitter))
	}
}

// expiry returns now plus age, saturated at the largest time the clock can
// tell: an age of centuries, math.MaxInt64 included, means never, not a
// time that wraps around to the past.
func expiry(now int64, age float64) int64 {
	// float64(math.MaxInt64) is 2⁶³: below it the conversion fits.
	if age >= float64(math.MaxInt64) || int64(age) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(age)
}

// spent counts one more request on the connection and reports whether it
// is the last one the connection may carry, at now, an ageClock time.
func (ci *connInfo) spent(c *config, now int64) bool {
	n := ci.requests.Add(1)
	if c.maxRequests > 0 && n >= c.maxRequests {
		return true
	}
	return ci.expires != 0 && now >= ci.expires
}

// connInfoOf returns the state of r's connection, or nil if the Drainer
// keeps none.
func connInfoOf(r *http.Request) *connInfo {
	ci, _ := r.Context().Value(connKey{}).(*connInfo)
	return ci
}

// ageClockSteps is how many times the age clock ticks per
// [WithMaxConnectionAge]: its error, at most one step, stays well within
// the age's jitter.
const ageClockSteps = 64

// ageClock tells connection ages. Reading the system clock can cost more
// than the rest of the Drainer's work on a request (on virtual machines
// whose clock source is not the TSC; BenchmarkMiddleware), so the
// Drainer's goroutine advances this clock every step (see
// [Drainer.watch]) until the lame-duck phase, and requests load it. Its
// zero value stands still at 0.
type ageClock struct {
	start time.Time
	now   atomic.Int64 // nanoseconds from start to the last tick
}

// ticker returns the channel of a ticker that steps a clock for
// connections of age d, and the function that stops it; a nil channel if
// d is 0.
func (k *ageClock) ticker(d time.Duration) (<-chan time.Time, func()) {
	if d == 0 {
		return nil, func() {}
	}
	k.start = time.Now()
	t := time.NewTicker(max(d/ageClockSteps, time.Millisecond))
	return t.C, t.Stop
}

// advance sets the clock to now, a tick of its ticker.
func (k *ageClock) advance(now time.Time) { k.now.Store(int64(now.Sub(k.start))) }
