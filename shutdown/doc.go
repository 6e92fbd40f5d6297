// Package shutdown runs a process's termination sequence on Kubernetes: it
// fails readiness, keeps serving while load balancers catch up, then drains
// servers and closes resources in the order they were registered, and
// returns before the kubelet's SIGKILL. The packages readiness, httpdrain
// and grpcdrain plug into it through its lifecycle signals (channels closed
// once) and plain func(context.Context) error steps; none of them imports
// another.
//
// # Timeline
//
// One [Sequence] runs per process. The first trigger starts it: a signal
// (SIGTERM or SIGINT by default), a request to [Sequence.PrestopHandler],
// or a call to [Sequence.Trigger]. Every later trigger joins the running
// sequence; nothing runs twice.
//
//	T0            trigger: Triggered() closes, Context() is cancelled.
//	              Readiness wired to Triggered fails (503), liveness passes,
//	              httpdrain answers with "Connection: close", grpcdrain sets
//	              health NOT_SERVING. New connections are still served.
//	T0+delay      Draining() closes. Steps run one after another, in the
//	              order they were added. Each step's context carries the
//	              deadline, less a reserve for the steps after it.
//	T0+grace-margin  the deadline: Wait returns by now, whatever a step
//	              does. Done() closes when Wait's sequence has finished.
//	T0+grace      the kubelet's SIGKILL, which the process never sees.
//
// The propagation delay (T0 to T0+delay) is the time kube-proxy, ingress
// controllers and cloud load balancers need to learn that the pod is no
// longer ready; until they do, new connections keep arriving. It is skipped
// for SIGINT, since nobody routes traffic by Ctrl-C. A second signal during
// the sequence forces an immediate exit.
//
// With a preStop httpGet hook on /prestop, the kubelet's request starts the
// sequence and returns when the delay is over; the kubelet then sends
// SIGTERM, which joins the running sequence, so the delay is spent once.
// The time the hook takes counts against the grace period (kubelet
// killContainer), which is why the deadline is measured from the trigger.
package shutdown
