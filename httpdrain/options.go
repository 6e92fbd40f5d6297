package httpdrain

import (
	"fmt"
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
type Option func(*config) error

type config struct {
	reject     bool
	retryAfter string
	exempt     map[string]bool
}

func newConfig(opts []Option) (*config, error) {
	c := new(config)
	defaults := []Option{WithRetryAfter(DefaultRetryAfter), WithExemptPaths(DefaultExemptPaths()...)}
	for _, o := range append(defaults, opts...) {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
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
	return func(c *config) error {
		c.reject = true
		return nil
	}
}

// WithRetryAfter sets the Retry-After value sent with the 503 answers of
// [WithRejectWhileDraining], rounded up to whole seconds. It returns an
// error from [New] if d is not positive. Defaults to [DefaultRetryAfter].
func WithRetryAfter(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("httpdrain: retry-after %v must be positive: %w", d, ErrInvalidOption)
		}
		secs := (d + time.Second - 1) / time.Second
		c.retryAfter = fmt.Sprint(int64(secs))
		return nil
	}
}

// WithExemptPaths replaces the request paths that [WithRejectWhileDraining]
// never rejects (matched exactly against URL.Path). Defaults to
// [DefaultExemptPaths].
func WithExemptPaths(paths ...string) Option {
	return func(c *config) error {
		c.exempt = make(map[string]bool, len(paths))
		for _, p := range paths {
			c.exempt[p] = true
		}
		return nil
	}
}
