package shutdowntest

import (
	"context"
	"os"
	"syscall"
	"time"
)

// termination is the state of one call to [Kubelet.Terminate].
type termination struct {
	p      Process
	logf   func(format string, args ...any)
	start  time.Time
	sig    os.Signal // the stop signal, once sent
	report Report
}

func (t *termination) log(format string, args ...any) {
	if t.logf != nil {
		t.logf("shutdowntest: "+format, args...)
	}
}

// preStop runs the hook and waits for it at most grace, and returns how
// long it waited. Like the kubelet, it goes on waiting when the process
// exits: a process that exits while answering has answered. It stops
// waiting early only when ctx is done. An abandoned request runs on in its
// goroutine, which ends with it.
func (t *termination) preStop(ctx context.Context, h *HTTPGet, grace time.Duration) time.Duration {
	t.log("preStop GET %s", h.URL)
	start := time.Now()
	done := make(chan preStopResult, 1) // never blocks the goroutine
	go func() { done <- h.do(ctx) }()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	var why string
	select {
	case res := <-done:
		t.report.PreStopStatus, t.report.PreStopErr = res.status, res.err
	case <-timer.C:
		why = "grace period spent"
	case <-ctx.Done():
		why = "context done"
	}
	d := time.Since(start)
	t.report.PreStopDuration = d
	if why != "" {
		t.report.PreStopAbandoned = true
		t.log("preStop abandoned after %v: %s", d, why)
	} else {
		t.log("preStop answered %d after %v (error: %v)", t.report.PreStopStatus, d, t.report.PreStopErr)
	}
	return d
}

// sleep waits d, the preStop sleep action, or until ctx is done, and
// returns how long it waited.
func (t *termination) sleep(ctx context.Context, d time.Duration) time.Duration {
	t.log("preStop sleep %v", d)
	start := time.Now()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	slept := time.Since(start)
	t.report.PreStopDuration = slept
	return slept
}

// running reports whether the process is still running and ctx not done.
func (t *termination) running(ctx context.Context) bool {
	select {
	case <-t.p.Exited():
		return false
	case <-ctx.Done():
		return false
	default:
		return true
	}
}

// stop sends sig, then SIGKILL when grace is spent or ctx is done, unless
// the process exits first.
func (t *termination) stop(ctx context.Context, sig os.Signal, grace time.Duration) {
	t.report.SignalAfter = time.Since(t.start)
	t.sig = sig
	t.log("sending %v, SIGKILL in %v", sig, grace)
	timer := time.NewTimer(grace) // the kill is due grace after the signal, however long Signal takes
	defer timer.Stop()
	if err := t.p.Signal(sig); err != nil {
		t.log("sending %v: %v", sig, err)
	}
	select {
	case <-t.p.Exited():
	case <-timer.C:
		t.kill("grace period spent")
	case <-ctx.Done():
		t.kill("context done")
	}
}

// finish kills the process if ctx is done, waits for it to exit, and
// completes the report.
func (t *termination) finish(ctx context.Context) *Report {
	if !t.report.Killed && ctx.Err() != nil {
		select {
		case <-t.p.Exited():
		default:
			t.kill("context done")
		}
	}
	<-t.p.Exited()
	t.report.ExitAfter = time.Since(t.start)
	t.report.ExitCode = t.p.ExitCode()
	t.report.ContainerExitCode = t.containerExitCode()
	t.log("exited with code %d after %v", t.report.ExitCode, t.report.ExitAfter)
	return &t.report
}

// containerExitCode maps a death by signal to 128 + the signal's number,
// as container runtimes report it, for the signals Terminate sent.
func (t *termination) containerExitCode() int {
	code := t.report.ExitCode
	if code != -1 {
		return code
	}
	switch sig, ok := t.sig.(syscall.Signal); {
	case t.report.Killed:
		return 128 + int(syscall.SIGKILL)
	case ok:
		return 128 + int(sig)
	}
	return code
}

func (t *termination) kill(why string) {
	t.log("sending SIGKILL: %s", why)
	err := t.p.Kill()
	if err != nil {
		t.log("sending SIGKILL: %v", err)
	}
	t.report.Killed = err == nil
}
