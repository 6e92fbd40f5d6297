package httpdrain

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// DefaultRetryAfter is the Retry-After value, in whole seconds, sent with
// the 503 answers enabled by [WithRejectWhileDraining].
const DefaultRetryAfter = 1 * time.Second

// DefaultExemptPaths returns the request paths that [WithRejectWhileDraining]
// never rejects by default: the probe paths package readiness serves and the
// conventional "/healthz". It returns a new slice on each call.
func DefaultExemptPaths() []string { return []string{"/readyz", "/livez", "/startupz", "/healthz"} }

// An Option configures a [Drainer] in [New].
type Option func(*config)

type config struct {
	reject      bool
	retryAfter  time.Duration
	retryHeader string // retryAfter in whole seconds, rounded up
	exempt      map[string]bool
	logger      *slog.Logger
}

func newConfig(opts []Option) *config {
	c := &config{retryAfter: DefaultRetryAfter}
	WithExemptPaths(DefaultExemptPaths()...)(c)
	for _, o := range opts {
		o(c)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	c.retryHeader = strconv.FormatInt(int64((c.retryAfter+time.Second-1)/time.Second), 10)
	return c
}

// WithRejectWhileDraining makes the Drainer answer requests that arrive
// after [Drainer.Drain] has started with 503 Service Unavailable,
// "Retry-After" and "Connection: close", and keep the listener open until
// the requests already in flight have finished, instead of refusing new
// connections at once (the approach k8s.io/apiserver offers with
// ShutdownSendRetryAfter). Clients that honour Retry-After then retry
// elsewhere; the exempt paths (see [WithExemptPaths]) are still served.
// Defaults to off: connections are refused once Drain starts.
func WithRejectWhileDraining() Option {
	return func(c *config) { c.reject = true }
}

// WithRetryAfter sets the Retry-After value sent with the 503 answers of
// [WithRejectWhileDraining], rounded up to whole seconds. It panics if d is
// not positive. Defaults to [DefaultRetryAfter].
func WithRetryAfter(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("httpdrain: WithRetryAfter(%v): the Retry-After value must be positive", d))
	}
	return func(c *config) { c.retryAfter = d }
}

// WithLogger sets the logger the Drainer reports misuse to (see [New]). It
// panics if l is nil. Defaults to [slog.Default] at the time of New.
func WithLogger(l *slog.Logger) Option {
	if l == nil {
		panic("httpdrain: WithLogger(nil): pass a logger, or omit the option for slog.Default()")
	}
	return func(c *config) { c.logger = l }
}

// WithExemptPaths replaces the request paths that [WithRejectWhileDraining]
// never rejects (matched exactly against URL.Path). Defaults to
// [DefaultExemptPaths].
func WithExemptPaths(paths ...string) Option {
	return func(c *config) {
		c.exempt = make(map[string]bool, len(paths))
		for _, p := range paths {
			c.exempt[p] = true
		}
	}
}
