package shutdowntest

import "time"

// Report is what [Kubelet.Terminate] saw. Durations are measured from the
// start of Terminate.
type Report struct {
	// PreStopDuration is how long Terminate waited for the preStop hook:
	// until its response body was read, or until it was abandoned. Zero when
	// there is no hook.
	PreStopDuration time.Duration
	// PreStopStatus is the hook's HTTP status code; zero when the hook got no
	// response in time. Like the kubelet, Terminate does not check it.
	PreStopStatus int
	// PreStopErr is the hook's transport error (connection refused, reset,
	// ...); the kubelet records it as a FailedPreStopHook event and goes on
	// terminating.
	PreStopErr error
	// PreStopAbandoned reports that Terminate stopped waiting for the hook
	// before it answered: the grace period was spent, or the context was
	// done. A process that exits does not end the wait, as with the
	// kubelet: its hook then answers or fails.
	PreStopAbandoned bool

	// SignalAfter is when the stop signal was sent; zero when it was not
	// sent because the process had already exited or the context was done.
	SignalAfter time.Duration
	// ExitAfter is when the process was seen to exit.
	ExitAfter time.Duration
	// ExitCode is the process's exit code, -1 when it was ended by a signal
	// (see [Process.ExitCode]).
	ExitCode int
	// ContainerExitCode is the exit code the kubelet would report in the
	// container's status (state.terminated.exitCode): ExitCode when the
	// process exited, and 128 + the signal's number when it was ended by a
	// signal Terminate sent: 137 after SIGKILL, as the real kubelet reports
	// it, and 143 when it died of SIGTERM. It is -1 when the process was
	// ended by a signal Terminate did not send. A container's PID 1 does
	// not die of a SIGTERM it does not handle: see the package doc.
	ContainerExitCode int
	// Killed reports that SIGKILL was sent: the process did not exit within
	// the remaining grace period, or the context was done.
	Killed bool
}
