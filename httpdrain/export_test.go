package httpdrain

import "time"

// WithEarlyIdleClose makes the lame-duck phase close HTTP/1 connections
// idle for at least d, for the measurements of idlerace_test.go.
func WithEarlyIdleClose(d time.Duration) Option {
	return func(c *config) { c.earlyIdle = d }
}
