package grpcdrain

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
)

// DefaultStreamEndLead is the default for [WithStreamEndLead]: streams
// still open a second before the drain's deadline are told to end.
const DefaultStreamEndLead = time.Second

// DefaultStreamEndWindow is the default for [WithStreamEndWindow]: zero,
// the streams still open are all told to end at once.
const DefaultStreamEndWindow time.Duration = 0

// DefaultMaxConnectionAge is the default for [WithMaxConnectionAge]: zero,
// connections are never recycled by age (grpc-go's own default).
const DefaultMaxConnectionAge time.Duration = 0

// Option configures a [Server]. An option given an invalid value panics:
// that is a programmer error, not a runtime condition.
type Option func(*config)

type config struct {
	streamGrace      time.Duration // noGrace unless WithStreamGrace was used
	streamEndLead    time.Duration
	streamEndWindow  time.Duration
	maxConnectionAge time.Duration
	grpcOptions      []grpc.ServerOption
	endless          map[string]bool // full method names of WithEndlessStreams
}

// noGrace marks that WithStreamGrace was not used.
const noGrace time.Duration = -1

func newConfig(opts []Option) config {
	c := config{
		streamGrace:      noGrace,
		streamEndLead:    DefaultStreamEndLead,
		streamEndWindow:  DefaultStreamEndWindow,
		maxConnectionAge: DefaultMaxConnectionAge,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// serverOptions returns the options of grpc.NewServer for s: its
// interceptors first, then the keepalive parameters, then the caller's.
func (c config) serverOptions(s *Server) []grpc.ServerOption {
	opts := []grpc.ServerOption{grpc.ChainUnaryInterceptor(s.unary), grpc.ChainStreamInterceptor(s.stream)}
	if ka := c.keepaliveOption(); ka != nil {
		opts = append(opts, ka)
	}
	return append(opts, c.grpcOptions...)
}

// WithServerOptions passes opts to grpc.NewServer, after this package's
// own: credentials, limits, stats handlers, more interceptors (they run
// after this package's). Passing grpc.KeepaliveParams replaces what
// [WithMaxConnectionAge] set. It may be given more than once; the options
// add up. It panics if an option is nil.
func WithServerOptions(opts ...grpc.ServerOption) Option {
	for i, o := range opts {
		if o == nil {
			panic(fmt.Sprintf("grpcdrain: WithServerOptions: option %d is nil: pass only options made by the grpc package", i))
		}
	}
	return func(c *config) { c.grpcOptions = append(c.grpcOptions, opts...) }
}

// WithStreamEndLead sets how long before the drain's deadline the streams
// still open are told to end (their contexts cancelled with
// [ErrDraining], their pending RecvMsg returning codes.Unavailable): the
// time their handlers get to return before the forced stop. It is capped
// at half the time the drain has when it starts, so that streams get at
// least the other half to finish by themselves. Without a deadline on the
// drain's context, streams are told to end only when the context is done,
// or after [WithStreamGrace].
//
// It panics if d is negative. Defaults to [DefaultStreamEndLead].
func WithStreamEndLead(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("grpcdrain: WithStreamEndLead(%v): the lead must not be negative; use 0 to end streams only at the deadline", d))
	}
	return func(c *config) { c.streamEndLead = d }
}

// WithStreamGrace sets the longest a stream may still run once the drain
// has started before it is told to end (0: at once). The notice never
// comes later than [WithStreamEndLead] before the deadline.
//
// Name the methods whose streams never end by themselves (subscriptions,
// watches, bidi sessions) with [WithEndlessStreams] rather than bounding
// every stream with it: they then end when the drain starts, and the drain
// ends with the finite streams. WithStreamGrace is for a bound on the
// finite ones: the longest a stream of the server should take.
//
// It panics if d is negative. By default there is no such limit: streams
// run until [DefaultStreamEndLead] before the drain's deadline, so that
// every finite stream that fits in the budget completes.
func WithStreamGrace(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("grpcdrain: WithStreamGrace(%v): the grace must not be negative; use 0 to end streams when the drain starts", d))
	}
	return func(c *config) { c.streamGrace = d }
}

// WithStreamEndWindow spreads the notice to the streams still open over a
// window of w that ends when they would all have been told at once
// ([WithStreamEndLead] before the deadline, or [WithStreamGrace]): the
// streams open when the window starts are told one after another, evenly
// spaced. Their clients then reconnect to the remaining servers a few at a
// time rather than in one burst, which matters when a server holds many
// long-lived streams (watches, subscriptions); the model is Envoy's
// gradual drain strategy. A window longer than the time before the notice
// starts when the drain starts. Streams in the window run at most w less
// than without it; finite streams that end before their turn are not
// affected. The streams of [WithEndlessStreams] are spread the same way
// over a window of w that starts with the drain (and ends no later than
// the other streams' notice).
//
// It panics if d is negative. Defaults to [DefaultStreamEndWindow].
func WithStreamEndWindow(w time.Duration) Option {
	if w < 0 {
		panic(fmt.Sprintf("grpcdrain: WithStreamEndWindow(%v): the window must not be negative; use 0 to tell every stream at once", w))
	}
	return func(c *config) { c.streamEndWindow = w }
}

// noticeAfter returns how long after the drain starts, at now, the
// streams are told to end, and false if only ctx's end tells them.
func (c config) noticeAfter(deadline time.Time, hasDeadline bool, now time.Time) (time.Duration, bool) {
	after, ok := max(c.streamGrace, 0), c.streamGrace != noGrace
	if !hasDeadline {
		return after, ok
	}
	left := max(deadline.Sub(now), 0)
	untilLead := left - min(c.streamEndLead, left/2)
	if !ok || untilLead < after {
		return untilLead, true
	}
	return after, true
}

// WithEndlessStreams names the streaming methods whose streams never end
// by themselves: subscriptions, watches, bidi sessions. Their streams are
// told to end as soon as the drain starts, as the health service's Watch
// streams are, so that their clients open them again on another server at
// once instead of holding the drain until [WithStreamEndLead] before its
// deadline; with [WithStreamEndWindow], one after another over the window
// from the start of the drain. The streams of every other method run to
// completion within the drain's budget, as without this option. The drain
// then ends when the last of those finite streams (and unary calls) ends.
//
// Each name is a full method name, "/package.Service/Method", as in the
// generated Service_Method_FullMethodName constants. It may be given more
// than once; the names add up. It panics if a name is not of that form;
// [Server.Serve] fails if a name is not a streaming method of a service
// registered on the server.
func WithEndlessStreams(fullMethods ...string) Option {
	for _, m := range fullMethods {
		if !isFullMethod(m) {
			panic(fmt.Sprintf("grpcdrain: WithEndlessStreams(%q): not a full method name; write \"/package.Service/Method\", as in the generated Service_Method_FullMethodName constants", m))
		}
	}
	return func(c *config) {
		if c.endless == nil {
			c.endless = make(map[string]bool, len(fullMethods))
		}
		for _, m := range fullMethods {
			c.endless[m] = true
		}
	}
}

// isFullMethod reports whether m looks like "/package.Service/Method".
func isFullMethod(m string) bool {
	service, method, ok := strings.Cut(strings.TrimPrefix(m, "/"), "/")
	return ok && strings.HasPrefix(m, "/") && service != "" && method != "" &&
		!strings.Contains(method, "/") && !strings.ContainsAny(m, " \t\n")
}
