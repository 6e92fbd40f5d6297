package httpdrain

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultExemptPaths returns the request paths that [WithRejectWhileDraining]
// never rejects by default: the probe paths package readiness serves, with
// their per-check subpaths ("/readyz/db"), the conventional "/healthz", and
// "/metrics", so that scrapes go on during the drain. It returns a new
// slice on each call.
func DefaultExemptPaths() []string {
	return []string{"/readyz", "/readyz/", "/livez", "/livez/", "/startupz", "/healthz", "/metrics"}
}

// An Option configures a [Drainer] in [New].
type Option func(*config)

type config struct {
	reject      bool
	retryAfter  time.Duration
	retryHeader string                     // retryAfter in whole seconds, rounded up; "" for none
	exempt      map[string]bool            // exact paths
	exemptTrees []string                   // prefixes: paths ending in "/"
	exemptFuncs []func(*http.Request) bool // see WithExemptFunc
	logger      *slog.Logger

	maxAge      time.Duration // see WithMaxConnectionAge
	maxRequests int64         // see WithMaxConnectionRequests
	lameWindow  time.Duration // see WithLameDuckWindow
	perConn     bool          // one of the three is set: connections carry a connInfo

	drainWindow time.Duration // see WithDrainWindow
}

func newConfig(opts []Option) *config {
	c := new(config)
	WithExemptPaths(DefaultExemptPaths()...)(c)
	for _, o := range opts {
		o(c)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	c.perConn = c.maxAge > 0 || c.maxRequests > 0 || c.lameWindow > 0
	if c.retryAfter > 0 {
		secs := c.retryAfter / time.Second
		if c.retryAfter%time.Second != 0 {
			secs++ // rounded up: whole seconds, as the header takes
		}
		c.retryHeader = strconv.FormatInt(int64(secs), 10)
	}
	return c
}

// WithRejectWhileDraining makes the Drainer answer requests that arrive
// after [Drainer.Drain] has started with 503 Service Unavailable and
// "Connection: close", and keep the listener open until the requests
// already in flight have finished, instead of refusing new connections at
// once (the approach k8s.io/apiserver offers with ShutdownSendRetryAfter).
// The 503 answers carry "Retry-After: N", retryAfter rounded up to whole
// seconds, so that clients that honour it retry elsewhere; a retryAfter
// of 0 or less sends no Retry-After header. The exempt requests (see
// [WithExemptPaths] and [WithExemptFunc]) are still served.
//
// Without this option, the listener refuses new connections once Drain
// starts. If it is given more than once, the last retryAfter counts.
func WithRejectWhileDraining(retryAfter time.Duration) Option {
	return func(c *config) { c.reject, c.retryAfter = true, retryAfter }
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
// never rejects. A path matches URL.Path exactly, except one that ends in
// "/", which matches every path under it, as in [http.ServeMux]: "/readyz/"
// matches "/readyz/db" (and "/readyz/", not "/readyz"). Defaults to
// [DefaultExemptPaths]; to add to them, pass
// append(httpdrain.DefaultExemptPaths(), paths...).
func WithExemptPaths(paths ...string) Option {
	return func(c *config) {
		c.exempt = make(map[string]bool, len(paths))
		c.exemptTrees = nil
		for _, p := range paths {
			if strings.HasSuffix(p, "/") {
				c.exemptTrees = append(c.exemptTrees, p)
			} else {
				c.exempt[p] = true
			}
		}
	}
}

// WithExemptFunc makes [WithRejectWhileDraining] serve the requests for
// which exempt returns true, in addition to the exempt paths: requests from
// a monitoring agent by User-Agent, say, as k8s.io/apiserver exempts its
// own probes. It is called only for requests that arrive while the
// Drainer rejects, from their handlers' goroutines, so concurrently. Each
// use adds a function; a request is exempt if any returns true. It panics
// if exempt is nil.
func WithExemptFunc(exempt func(*http.Request) bool) Option {
	if exempt == nil {
		panic("httpdrain: WithExemptFunc(nil): pass a function that reports exempt requests")
	}
	return func(c *config) { c.exemptFuncs = append(c.exemptFuncs, exempt) }
}

// isExempt reports whether r is served even while the Drainer rejects.
func (c *config) isExempt(r *http.Request) bool {
	if c.exempt[r.URL.Path] {
		return true
	}
	for _, p := range c.exemptTrees {
		if strings.HasPrefix(r.URL.Path, p) {
			return true
		}
	}
	for _, f := range c.exemptFuncs {
		if f(r) {
			return true
		}
	}
	return false
}
