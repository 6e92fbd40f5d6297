// Package shutdowntest terminates a process the way the kubelet terminates a
// container, so that a service's own tests can check that it shuts down
// gracefully, the way [net/http/httptest] lets them check its handlers.
//
// A [Kubelet] runs the optional httpGet preStop hook, sends the stop signal
// to the process (and to that process only), and sends SIGKILL when the
// remaining grace period is spent; [Kubelet.Terminate] returns a [Report] of
// what happened and when. The process is a child started with [os/exec]
// ([Command]) or a server running in the test's own process ([Func]).
//
// The timing follows the kubelet's killContainer
// (pkg/kubelet/kuberuntime/kuberuntime_container.go in kubernetes/kubernetes):
//
//  1. The preStop hook runs first. The kubelet gives it no timeout of its own
//     and does not check its status code; it waits for it at most the grace
//     period and then stops waiting without cancelling the request.
//  2. The hook's elapsed time, rounded down to whole seconds, is subtracted
//     from the grace period, and what remains is floored at
//     [MinGraceAfterSignal].
//  3. The stop signal is sent once; SIGKILL follows when the remaining grace
//     is spent.
//
// The package imports none of the other lameduck packages: it tests any
// process, whatever it is built with. It is meant for tests and has no place
// in production code.
package shutdowntest
