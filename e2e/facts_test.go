package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPreStop404CountsAsCompleted shows that the kubelet treats a preStop
// httpGet answered 404 as a completed hook: no FailedPreStopHook event, and
// SIGTERM follows at once, so a wrong path silently skips the wait the hook
// was there for. Only a transport error (here: nothing listens on the
// hook's port) is reported, as FailedPreStopHook (pkg/kubelet/lifecycle/
// handlers.go checks no status code).
func TestPreStop404CountsAsCompleted(t *testing.T) {
	r := needRig(t)
	rec := newRecorder(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	wrongPath := timingCase{name: "prestop-404", grace: 5, hook: 3 * time.Second, hookPath: "/pre-stop"}
	real := underKubelet(ctx, t, r, rec, wrongPath)
	run := rec.run("timing-" + wrongPath.name)
	notFound := run.first("notfound /pre-stop")
	require.False(t, notFound.IsZero(), "the hook's request never arrived")
	sigterm := run.first("sigterm")
	require.False(t, sigterm.IsZero(), "no SIGTERM")
	t.Logf("404 hook: SIGTERM %.3f s after the hook's request (a /prestop that waits would have held it 3 s); %v",
		sigterm.Sub(notFound).Seconds(), real)
	assert.Less(t, sigterm.Sub(notFound), 500*time.Millisecond, "SIGTERM should follow the 404 at once")
	reasons, err := events(ctx, r, "timing-"+wrongPath.name)
	require.NoError(t, err)
	assert.NotContains(t, reasons, "FailedPreStopHook", "a 404 is not reported: %v", reasons)

	// The control: a hook that cannot connect is reported.
	refused := timingCase{name: "prestop-refused", grace: 5}
	p := timingPod(r, refused, "timing-"+refused.name, freePorts(t, 1)[0], rec.addr())
	p.Spec.Containers[0].Lifecycle.PreStop.HTTPGet.Port.IntVal = int32(freePorts(t, 1)[0])
	createPod(ctx, t, r, p)
	waitReady(ctx, t, r, p.Name)
	deletePod(ctx, t, r, p.Name)
	assert.Eventually(t, func() bool {
		reasons, err := events(ctx, r, p.Name)
		return err == nil && slices.Contains(reasons, "FailedPreStopHook")
	}, 30*time.Second, 200*time.Millisecond, "a hook with a transport error is reported as FailedPreStopHook")
	watch, stop := context.WithCancel(ctx)
	defer stop()
	pods := watchPods(watch, t, r, "e2e=timing")
	pods.waitGone(t, 30*time.Second, p.Name)
	stop()
	<-pods.done
}

// TestPID1UnhandledSIGTERMExits2 shows that a Go program that is PID 1 of
// its container and does not handle SIGTERM exits 2, not 143: the Go
// runtime re-raises the signal with its default action, the kernel drops
// it because PID 1 of a PID namespace ignores default-action signals sent
// from inside, and the runtime then exits 2 (runtime/signal_unix.go,
// dieFromSignal). The same program as an ordinary child process dies of
// the signal.
func TestPID1UnhandledSIGTERMExits2(t *testing.T) {
	r := needRig(t)
	rec := newRecorder(t)
	c := timingCase{name: "no-handler", grace: 5, noHandler: true}
	real, sim := both(t, r, rec, c)
	t.Logf("kubelet: %v\nsimulator: %v", real, sim)
	assert.Equal(t, 2, real.exitCode, "exit code of PID 1 in the container")
	// The hook answers at once; SIGKILL would come 5 s later.
	assert.Less(t, real.death, 1.0, "it exits at SIGTERM, not at SIGKILL")
	assert.Equal(t, 143, sim.exitCode, "a child process dies of the signal: 128 + SIGTERM")
}
