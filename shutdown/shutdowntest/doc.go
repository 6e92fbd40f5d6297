// Package shutdowntest terminates a process the way the kubelet terminates a
// container, so that a service's own tests can check that it shuts down
// gracefully, the way [net/http/httptest] lets them check its handlers.
//
// A [Kubelet] runs the optional httpGet preStop hook, sends the stop signal
// to the process (and to that process only), and sends SIGKILL when the
// remaining grace period is spent; [Kubelet.Terminate] returns a [Report] of
// what happened and when. The process is a child started with [os/exec]
// ([Command]), or a service built on package shutdown running in the
// test's own process ([InProcess]): its sequence gets the signals, and a
// forced exit is recorded instead of ending the test.
//
// The timing follows the kubelet's killContainer
// (pkg/kubelet/kuberuntime/kuberuntime_container.go in kubernetes/kubernetes):
//
//  1. The preStop hook runs first. The kubelet gives it no timeout of its own
//     and does not check its status code; it waits for it at most the grace
//     period and then stops waiting without cancelling the request. It waits
//     whatever the process does: a process that exits while its hook is
//     answered has answered it (Terminate used to stop waiting when the
//     process exited, and reported such hooks as abandoned).
//  2. The grace period is the deletion's when it sets one
//     ([Kubelet.DeletionGracePeriod]: kubectl delete --grace-period, an
//     eviction, a graceful node shutdown), else the pod spec's.
//  3. The hook's elapsed time, rounded down to whole seconds, is subtracted
//     from the grace period, and what remains is floored at
//     [MinGraceAfterSignal].
//  4. The stop signal is sent once; SIGKILL follows when the remaining grace
//     is spent.
//
// The e2e module's TestKubeletVsSimulator compares these timings with a
// real kubelet's on the same pod spec: a quick exit after a hook, a process
// that ignores SIGTERM after a hook (SIGKILL at SIGTERM + the grace period
// less the hook's time truncated to whole seconds), and a hook longer than
// the grace period (SIGTERM at the grace period, SIGKILL 2 s later). The
// real kubelet is the later of the two by its calls to the container
// runtime; run that test to see by how much on a given node. Where they
// differ by design:
//
//   - The kubelet starts only once the API server has told it of the
//     delete, some time after the DELETE request. Terminate starts at
//     once.
//   - The kubelet reports the exit code of a container killed by a signal
//     as 128 + its number (137 after SIGKILL), where [Process.ExitCode] is
//     -1; [Report.ContainerExitCode] gives the kubelet's number.
//   - A container's entrypoint is PID 1 of its PID namespace, and the kernel
//     does not deliver a default-action signal sent to it from inside the
//     namespace. A Go program that does not handle SIGTERM therefore does
//     not die of it there: the runtime re-raises it, the kernel drops it,
//     and the runtime exits 2 (runtime/signal_unix.go, dieFromSignal). The
//     same program started by [Command] is not PID 1 and dies of the signal
//     (ContainerExitCode 143).
//   - The kubelet counts a preStop answered 404 (or any status) as a
//     completed hook, and so does Terminate: check [Report.PreStopStatus],
//     since a wrong path silently skips the wait the hook was for.
//
// [Command] tests any process, whatever it is built with; only [InProcess]
// needs package shutdown. The package is meant for tests and has no place
// in production code.
package shutdowntest
