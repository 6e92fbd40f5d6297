package grpcdrain

import (
	"fmt"
	"time"
)

// DefaultStreamGrace is the default for [WithStreamGrace]: long-lived
// streams are told to finish as soon as the drain starts.
const DefaultStreamGrace time.Duration = 0

// DefaultMaxConnectionAge is the default for [WithMaxConnectionAge]: zero,
// connections are never recycled by age (grpc-go's own default).
const DefaultMaxConnectionAge time.Duration = 0

// Option configures a [Drainer].
type Option func(*config)

type config struct {
	streamGrace      time.Duration
	maxConnectionAge time.Duration
}

func newConfig(opts []Option) (config, error) {
	c := config{streamGrace: DefaultStreamGrace, maxConnectionAge: DefaultMaxConnectionAge}
	for _, o := range opts {
		o(&c)
	}
	if c.streamGrace < 0 {
		return c, fmt.Errorf("grpcdrain: stream grace %v is negative: use 0 to end streams when the drain starts", c.streamGrace)
	}
	if c.maxConnectionAge < 0 {
		return c, fmt.Errorf("grpcdrain: max connection age %v is negative: use 0 to never recycle connections", c.maxConnectionAge)
	}
	return c, nil
}

// WithStreamGrace sets how long after [Drainer.Drain] starts the contexts
// of long-lived streams are cancelled with [ErrDraining]. Streams that
// end by themselves within the grace (a download, a finite batch) are not
// cut short; streams that never end (subscriptions, bidi sessions) hold
// the drain for the whole grace. The grace never extends the drain past
// the context's deadline: at the deadline the streams are cancelled and
// the server is stopped at once, so keep the grace well below the budget
// of the drain step to leave handlers time to return. Health Watch streams
// are not subject to it: they end as soon as the drain starts.
//
// Defaults to [DefaultStreamGrace].
func WithStreamGrace(d time.Duration) Option {
	return func(c *config) { c.streamGrace = d }
}
