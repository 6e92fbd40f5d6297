package grpcdrain

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
)

// Option configures a [Server]. Each option's doc says what it does with
// zero, negative and out-of-range values: durations never panic, a value
// <= 0 turns the option's feature off, and one past a documented bound is
// clamped to it. Only a mistake in the program (a nil option, a malformed
// method name) panics, at the call that makes it.
type Option func(*config)

type config struct {
	streamEndLead    time.Duration
	drainWindow      time.Duration
	maxConnectionAge time.Duration
	grpcOptions      []grpc.ServerOption
	endless          map[string]bool // full method names of WithEndlessStreams
}

// defaultStreamEndLead is what WithStreamEndLead documents as its default.
const defaultStreamEndLead = time.Second

func newConfig(opts []Option) config {
	c := config{streamEndLead: defaultStreamEndLead}
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
// time their handlers get to return before the forced stop. Until then
// every stream accepted before the drain runs on, so that finite streams
// that fit in the drain's time complete. Name the methods whose streams
// never end by themselves with [WithEndlessStreams] instead: they are
// told to end when the drain starts.
//
// The lead is clamped to half the time the drain has when it starts, so
// that streams get at least the other half to finish by themselves. A
// lead <= 0 tells the streams only at the deadline, together with the
// forced stop. Without a deadline on the drain's context, streams are
// told to end only when the context is done, whatever the lead.
//
// Defaults to 1 s.
func WithStreamEndLead(d time.Duration) Option {
	return func(c *config) { c.streamEndLead = max(d, 0) }
}

// WithDrainWindow spreads the notice to the streams still open over a
// window of w that opens at the drain's start at the earliest: the
// streams open when the window opens are told one after another, evenly
// spaced, up to the moment they would all have been told at once without
// it; streams opened later are told at that moment. Their clients then reconnect to the remaining servers
// a few at a time rather than in one burst, which matters when a server
// holds many long-lived streams (watches, subscriptions); the model is
// Envoy's gradual drain strategy. It has the name and meaning of
// httpdrain's WithDrainWindow, which spreads the end of streaming HTTP
// responses the same way.
//
// For the finite streams the window ends [WithStreamEndLead] before the
// deadline; a window longer than the time from the drain's start to then
// is clamped to it. Streams in the window run at most w less than without
// it; finite streams that end before their turn are not affected. The
// streams of [WithEndlessStreams] are spread the same way over a window
// of w from the drain's start, clamped to end no later than the finite
// streams' window. Without a deadline on the drain's context the finite
// streams are told at once when the context is done.
//
// A window <= 0 turns the spreading off: every stream of a class is told
// at once. Defaults to 0.
func WithDrainWindow(w time.Duration) Option {
	return func(c *config) { c.drainWindow = max(w, 0) }
}

// noticeAfter returns how long after the drain starts, at now, the
// finite streams are told to end, and false if only ctx's end tells them.
func (c config) noticeAfter(deadline time.Time, hasDeadline bool, now time.Time) (time.Duration, bool) {
	if !hasDeadline {
		return 0, false
	}
	left := max(deadline.Sub(now), 0)
	return left - min(c.streamEndLead, left/2), true
}

// WithEndlessStreams names the streaming methods whose streams never end
// by themselves: subscriptions, watches, bidi sessions. Their streams are
// told to end as soon as the drain starts, as the health service's Watch
// streams are, so that their clients open them again on another server at
// once instead of holding the drain until [WithStreamEndLead] before its
// deadline; with [WithDrainWindow], one after another over the window
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
