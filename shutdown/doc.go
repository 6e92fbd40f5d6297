// Package shutdown runs a process's termination sequence on Kubernetes: it
// fails readiness, keeps serving while load balancers catch up, then drains
// every server and goroutine together, closes resources in the order they
// were registered, and returns before the kubelet's SIGKILL. The packages
// readiness, httpdrain and grpcdrain take the [Sequence] itself (they need
// only its Triggered channel, through an interface of their own) and
// plain func(context.Context) error drain steps come back; none of them
// imports another.
//
// # Timeline
//
// One [Sequence] runs per process. The first trigger starts it: a signal
// (SIGTERM or SIGINT by default) at any moment after [New], a request to
// [Sequence.PrestopHandler], a call to [Sequence.Trigger], or a failure
// ([Sequence.Fail], or a server run with [Sequence.Serve] or a goroutine
// run with [Sequence.Go] that fails). Every later trigger joins the
// running sequence; nothing runs twice.
//
//	T0            triggered: Triggered() closes, Context() is cancelled,
//	              goroutines run with Go are told to stop (those run
//	              with StopAfter once their servers have drained). The
//	              process is a lame duck: /readyz fails (503), /servingz
//	              keeps passing after a termination, liveness passes,
//	              httpdrain answers with "Connection: close", grpcdrain sets
//	              health NOT_SERVING. New connections are still served.
//	T0+delay      draining: Draining() closes; /servingz fails. Every
//	              server's drain runs,
//	              together; Wait also waits for the servers' serve calls
//	              and the goroutines to return. They share the time up to
//	              the deadline, less the close reserve.
//	              Then the close steps (Add) run, one after another.
//	T0+grace-margin  the deadline: Wait returns by now, whatever a drain or
//	              step does. Done() closes when Wait's sequence has
//	              finished.
//	T0+grace-margin/2  if the sequence has not finished (Wait was never
//	              called), the process exits with the force exit code.
//	T0+grace      the kubelet's SIGKILL, which the process never sees.
//
// The propagation delay (T0 to T0+delay) is the time kube-proxy, ingress
// controllers and cloud load balancers need to learn that the pod is no
// longer ready; until they do, new connections keep arriving. It is skipped
// when no load balancer can have been told that the process is ready:
//
//   - with a readiness endpoint that reports to the sequence (the handlers
//     of package readiness, see [Sequence.TrackReadiness]) and none of its
//     answers said "ready" before the trigger: for a failure (a server
//     whose port is in use), and for any other trigger once it answered
//     probes (a SIGTERM during start-up while the probes fail);
//   - without one, for a failure before [Sequence.Wait] was called;
//   - always for SIGINT, since nobody routes traffic by Ctrl-C.
//
// A second signal forces an immediate exit.
//
// With a preStop httpGet hook on /prestop, the kubelet's request starts the
// sequence and returns when the delay is over; the kubelet then sends
// SIGTERM, which joins the running sequence, so the delay is spent once.
// The time the hook takes counts against the grace period (kubelet
// killContainer), which is why the deadline is measured from the trigger.
// The SIGTERM that joins the sequence is logged. A signal that arrives
// while /prestop is still waiting means the kubelet gave up on the hook:
// the deletion's grace period was shorter than the delay (kubectl delete
// --grace-period, a node-pressure eviction, a graceful node shutdown), and
// SIGKILL follows at least [KubeletMinGrace] (2 s) after the signal. The
// sequence then re-plans: the delay ends at once, pre-drain hooks still
// running are abandoned, the drains start, and the deadline becomes the
// signal + KubeletMinGrace − [LateSignalMargin] if that is earlier; the
// exit is forced by half the margin later.
// The kubelet does not look at the hook's status: a hook pointed at a wrong
// path (a 404) counts as done and triggers nothing, so check the path.
//
// # Errors
//
// Mistakes in the program (a nil server, step or function) panic at the
// call. One that shows only while the sequence runs (a [StopAfter] name
// that matches no server) is reported by Wait instead, so that it cannot
// stop a shutdown half-way. Mistakes in the configuration (a duration from the environment
// that does not parse or overflows, a delay that does not fit in the
// grace period) come back from [New], all at once. What fails while the
// sequence runs comes back from [Sequence.Wait], each error naming what
// failed, and is logged at ERROR. The functions the sequence runs (serve
// calls, workers, hooks, drains, close steps, the observer) may block or
// panic: none can hold Wait past the deadline, and a panic is recovered as
// a [PanicError] (the observer's is only logged).
package shutdown
