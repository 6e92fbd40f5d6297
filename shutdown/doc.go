// Package shutdown runs a process's termination sequence on Kubernetes: it
// fails readiness, keeps serving while load balancers catch up, then drains
// every server and goroutine together, runs the after-drain steps in the
// order they were added, and returns before the kubelet's SIGKILL. The
// packages readiness, httpdrain and grpcdrain take the [Sequence] itself
// (they need only its channels, through interfaces of their own) and give
// back plain func(context.Context) error drains; none of them imports
// another. Package shutdowntest terminates a process the way the kubelet
// does, for tests.
//
// # Timeline
//
// One [Sequence] runs per process. The first trigger starts it: a signal
// (SIGTERM or SIGINT by default) at any moment after [New], a request to
// /prestop ([Sequence.PrestopHandler], served by [Sequence.ServeAdmin]), a
// call to [Sequence.Trigger], or an error ([Sequence.Fail], or a server run
// with [Sequence.Serve], a goroutine run with [Sequence.Go] or the admin
// listener that fails). Every later trigger joins the running sequence;
// nothing runs twice. With T0 the trigger, D the propagation delay applied,
// G the grace period and M the safety margin, the deadline is T0+(G-M):
//
//	T0            the trigger: Triggered() closes; goroutines run with Go
//	              are told to stop (those run with StopAfter once their
//	              servers have drained); before-drain hooks start. The
//	              process is a lame duck: /readyz fails (503), /servingz
//	              keeps passing after a termination, liveness passes,
//	              httpdrain answers with "Connection: close", grpcdrain
//	              sets health NOT_SERVING. New connections are still
//	              served.
//	T0+D          the drain: once the delay is over and the before-drain
//	              hooks have returned or run out of time, DrainStarted()
//	              closes and /servingz fails. Every server's drain runs,
//	              together; Wait also waits for the servers' serve calls
//	              and the goroutines to return. They share the time up to
//	              the deadline, less the after-drain reserve. Then the
//	              after-drain steps (AfterDrain) run, one after another,
//	              and the admin listener (ServeAdmin) closes last.
//	T0+(G-M)      the deadline: Wait returns by now, whatever a drain or
//	              step does.
//	T0+(G-M)+M/2  half the margin after the deadline: if the sequence has
//	              not finished (Wait was never called, or start-up hung),
//	              the process exits with code 1.
//	T0+G          the kubelet's SIGKILL, which the process never sees.
//
// The propagation delay (T0 to T0+D) is the time kube-proxy, ingress
// controllers and cloud load balancers need to learn that the pod is no
// longer ready; until they do, new connections keep arriving. It is skipped
// when no load balancer can have been told that the process is ready:
//
//   - with a readiness endpoint that reports to the sequence (the handlers
//     of package readiness, see [Sequence.TrackReadiness]) and none of its
//     answers said "ready" before the trigger: for an error (a server
//     whose port is in use), and for any other trigger once it answered
//     probes (a SIGTERM during start-up while the probes fail);
//   - without one, for an error before [Sequence.Wait] was called;
//   - always for SIGINT, since nobody routes traffic by Ctrl-C.
//
// A second signal forces an immediate exit, with code 1.
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
// SIGKILL follows at least 2 s after the signal (the kubelet's
// minimumGracePeriodInSeconds). The sequence then re-plans: the delay ends
// at once, before-drain hooks still running are abandoned, the drains
// start, and the deadline becomes (the signal + 1.5 s) if that is earlier
// than T0+(G-M); the exit is forced 0.25 s after that deadline.
// The kubelet does not look at the hook's status: a hook pointed at a wrong
// path (a 404) counts as done and triggers nothing, so check the path.
//
// # Errors
//
// Mistakes in the program (a nil server, step, function or logger) panic
// at the call. One that shows only while the sequence runs (a [StopAfter]
// name that matches no server) is reported by Wait instead, so that it
// cannot stop a shutdown half-way. A value that can come from
// configuration never panics: a negative delay, margin or reserve turns
// its feature off, and [New] returns an error, listing every problem at
// once, only for what no clamp can give a meaning (a grace period of 0 or
// less, a delay and margin that do not fit in it, an environment variable
// that does not parse). What fails while the sequence runs comes back from
// [Sequence.Wait], each error naming what failed, and is logged once, at
// ERROR. The functions the sequence runs (serve calls, workers, hooks,
// drains, after-drain steps, the observer) may block or panic: none can
// hold Wait past the deadline, and a panic is recovered as a [PanicError]
// (the observer's is only logged).
package shutdown
