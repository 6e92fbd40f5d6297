// Package loadtest holds the load generator and the load balancer that
// lameduck's tests, its rollout example and its end-to-end tests share.
//
// [Run] sends open-loop load: requests start at a fixed rate whatever the
// answers do, each is sent exactly once, and every failure is counted
// under a reason ([Reason]). [HTTP] is a sender that POSTs a body
// net/http cannot replay over keep-alive connections; any
// func(context.Context) error is a sender too, such as a gRPC call made
// with retries disabled. [Tally] counts requests that a caller sends
// itself, in a closed loop or one by one.
//
// [Balancer] is a TCP load balancer on loopback that behaves like
// kube-proxy with conntrack: new connections go round robin to the
// endpoints it believes ready, it learns of readiness changes only after
// a lag, and established connections are left alone.
//
// The package is internal: it is test machinery, not part of lameduck's
// API.
package loadtest
