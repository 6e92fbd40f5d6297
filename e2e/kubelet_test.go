package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/e2e/internal/rig"
	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

// agreement is how closely the simulator must match the real kubelet.
const agreement = 0.100 // seconds

// underSimulator runs case c as a child process terminated by
// shutdowntest's Kubelet and returns its timings.
func underSimulator(ctx context.Context, t *testing.T, r *rig.Rig, rec *recorder, c timingCase) timings {
	name := "sim-" + c.name
	port := freePorts(t, 1)[0]
	cmd := exec.Command(filepath.Join(r.Bin, "timing"))
	cmd.Env = os.Environ()
	for k, v := range c.env(name, port, rec.addr()) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	require.NoError(t, cmd.Start())
	p := shutdowntest.Command(cmd)
	run := rec.run(name)
	run.wait(t, run.started, "start", 30*time.Second)
	k := &shutdowntest.Kubelet{
		GracePeriod: time.Duration(c.grace) * time.Second,
		PreStop:     &shutdowntest.HTTPGet{URL: fmt.Sprintf("http://127.0.0.1:%d%s", port, c.path())},
		Logf:        t.Logf,
	}
	ref := time.Now()
	rep := k.Terminate(ctx, p)
	run.wait(t, run.dead, "death", 10*time.Second)
	tm := timings{
		hookStart:  secondsAfter(ref, run.first("hook-start")),
		sigterm:    secondsAfter(ref, run.first("sigterm")),
		death:      secondsAfter(ref, run.deadAt),
		terminated: -1,
	}
	simulatorStamps(rep, &tm)
	return tm
}

// both runs c under the real kubelet and under the simulator at once.
func both(t *testing.T, r *rig.Rig, rec *recorder, c timingCase) (real, sim timings) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { sim = underSimulator(ctx, t, r, rec, c) })
	real = underKubelet(ctx, t, r, rec, c)
	wg.Wait()
	return real, sim
}

// simTable collects the rows of the simulator-vs-kubelet table.
var simTable struct {
	sync.Mutex
	rows []string
}

// runtimeLatency bounds the time the container runtime takes to deliver a
// signal the kubelet has decided on. The kubelet's StopContainer call goes
// over CRI gRPC to containerd, over ttrpc to the container's shim, and the
// shim runs `runc kill`, a new process per signal; the simulator calls
// kill(2) itself. On two loaded cores (v1.37.2, six runs of the three
// cases) SIGTERM came 19 to 92 ms after the kubelet logged its
// StopContainer call, and SIGKILL 59 to 178 ms after it was due:
// containerd starts its grace timer only once its SIGTERM has been
// delivered (containerd's CRI stopContainer: the stop signal, a wait of
// the timeout, then SIGKILL), and the SIGKILL takes the same path again.
// That path, not the kubelet's timing, is what missed a 100 ms agreement
// by up to 165 ms: the kubelet's own decisions (the end of its wait for
// the hook, its StopContainer call and the grace period it passes)
// matched the simulator's within 30 ms. The bound leaves room for a
// busier machine; the simulator's decisions are held to [agreement].
const runtimeLatency = 0.500 // seconds

// TestKubeletVsSimulator runs the same terminations under the real
// kubelet and under shutdowntest's simulator at once, and checks that the
// simulator decides what the kubelet decides, when it does, within
// [agreement], and that the real signals follow the kubelet's decisions
// within [runtimeLatency].
func TestKubeletVsSimulator(t *testing.T) {
	r := needRig(t)
	rec := newRecorder(t)
	cases := []struct {
		timingCase
		// Expected, in seconds after the kubelet starts: SIGTERM after the
		// hook started, and death after SIGTERM (-1: not checked).
		sigtermAfterHook, deathAfterSigterm float64
	}{
		// The hook takes 1.5 s; SIGTERM follows it; exit at once.
		{timingCase{name: "quick-exit", grace: 5, hook: 1500 * time.Millisecond}, 1.5, 0},
		// SIGKILL at SIGTERM + (5 - 1) s: the hook's 1.5 s is truncated
		// to 1 s before it is subtracted from the grace period.
		{timingCase{name: "ignores-sigterm", grace: 5, hook: 1500 * time.Millisecond, ignore: true}, 1.5, 4},
		// The hook outlasts the 3 s grace period: SIGTERM at 3 s, while it
		// still runs, then SIGKILL after the 2 s minimum.
		{timingCase{name: "hook-longer-than-grace", grace: 3, hook: 6 * time.Second, ignore: true}, 3, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			real, sim := both(t, r, rec, tc.timingCase)
			t.Logf("kubelet   (DELETE to kubelet %.3f s; StopContainer call to SIGTERM %.3f s, SIGKILL due at %+.3f, death %+.3f after it): %v",
				real.apiDelay, real.sigterm-real.stopCall, real.stopCall+real.stopGrace, real.death-(real.stopCall+real.stopGrace), real)
			t.Logf("simulator: %v", sim)
			simTable.Lock()
			simTable.rows = append(simTable.rows,
				fmt.Sprintf("%-24s kubelet   %v", tc.name, real),
				fmt.Sprintf("%-24s simulator %v", tc.name, sim))
			simTable.Unlock()
			// What the kubelet's source says, for both; the real kubelet's
			// signals by its decisions, which the runtime's delivery
			// follows (checked below).
			assert.InDelta(t, tc.sigtermAfterHook, sim.sigterm-sim.hookStart, 0.25, "simulator: SIGTERM after the hook started: %v", sim)
			assert.InDelta(t, tc.deathAfterSigterm, sim.death-sim.sigterm, 0.25, "simulator: death after SIGTERM: %v", sim)
			assert.InDelta(t, tc.sigtermAfterHook, real.stopCall-real.hookStart, 0.25, "kubelet: StopContainer after the hook started: %v", real)
			assert.InDelta(t, tc.deathAfterSigterm, real.death-real.sigterm, 0.25+2*runtimeLatency, "kubelet: death after SIGTERM: %v", real)
			// The decisions: the hook's start, the end of the wait for it,
			// the stop call (the kubelet's StopContainer, the simulator's
			// signal) and, through the grace period the kubelet passed, the
			// time SIGKILL is due.
			assert.InDelta(t, real.hookStart, sim.hookStart, agreement, "hook start")
			assert.InDelta(t, real.hookEnd, sim.hookEnd, agreement, "end of the wait for the hook")
			assert.Equal(t, real.hookOutcome, sim.hookOutcome, "the hook's outcome")
			assert.InDelta(t, real.stopCall, sim.stopCall, agreement, "stop call")
			if tc.deathAfterSigterm > 0 {
				assert.InDelta(t, tc.deathAfterSigterm, real.stopGrace, 0, "the grace period StopContainer got")
			}
			// The delivery: what the runtime adds to each signal.
			assert.GreaterOrEqual(t, real.sigterm-real.stopCall, 0.0, "SIGTERM before the StopContainer call: %v", real)
			assert.Less(t, real.sigterm-real.stopCall, runtimeLatency, "StopContainer call to SIGTERM: %v", real)
			if tc.deathAfterSigterm > 0 {
				killDue := real.stopCall + real.stopGrace
				assert.GreaterOrEqual(t, real.death-killDue, -agreement, "death before SIGKILL was due: %v", real)
				assert.Less(t, real.death-killDue, 2*runtimeLatency, "SIGKILL due to death: SIGTERM's delivery and SIGKILL's: %v", real)
			} else {
				assert.InDelta(t, real.death-real.sigterm, sim.death-sim.sigterm, agreement, "exit after SIGTERM")
			}
			assert.InDelta(t, real.death, sim.death, agreement+2*runtimeLatency, "death")
			assert.Equal(t, real.exitCode, sim.exitCode, "exit code in the container status")
		})
	}
	t.Cleanup(func() {
		simTable.Lock()
		defer simTable.Unlock()
		slices.Sort(simTable.rows)
		t.Logf("seconds after the kubelet starts the termination:\n%s", strings.Join(simTable.rows, "\n"))
	})
}

// TestKubeletPreStopProcessExits terminates a process that exits while the
// kubelet's httpGet preStop hook is still in progress, under the real
// kubelet and under shutdowntest's simulator at once, and checks that
// they agree: the kubelet goes on waiting for the hook when the process
// exits (executePreStopHook waits for the request or the grace period,
// nothing else), so a process that answers and exits at once has
// answered, and one that exits without answering fails the hook with a
// transport error (a FailedPreStopHook event). Neither gets a SIGTERM: the
// kubelet still calls StopContainer, on a container that has exited, and
// containerd signals nothing. Both report exit code 0.
func TestKubeletPreStopProcessExits(t *testing.T) {
	r := needRig(t)
	rec := newRecorder(t)
	for _, c := range []timingCase{
		{name: "exit-after-answer", grace: 10, hook: 1500 * time.Millisecond, exitInHook: "answered"},
		{name: "exit-in-hook", grace: 10, hook: 1500 * time.Millisecond, exitInHook: "unanswered"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			real, sim := both(t, r, rec, c)
			t.Logf("kubelet   (DELETE to kubelet %.3f s; container terminated in the API %+.3f): %v", real.apiDelay, real.terminated, real)
			t.Logf("simulator: %v", sim)
			want := "answered"
			if c.exitInHook == "unanswered" {
				want = "failed"
			}
			for who, tm := range map[string]timings{"kubelet": real, "simulator": sim} {
				assert.Equal(t, want, tm.hookOutcome, "%s: the hook's outcome: %v", who, tm)
				assert.Equal(t, -1.0, tm.sigterm, "%s: no SIGTERM to a process that has exited: %v", who, tm)
				assert.Equal(t, 0, tm.exitCode, "%s: exit code: %v", who, tm)
				// The process exits right after its hook's sleep.
				assert.InDelta(t, c.hook.Seconds(), tm.death-tm.hookStart, 0.25, "%s: death after the hook started: %v", who, tm)
				// The caller's wait for the hook ends with the process,
				// not at the grace period.
				assert.InDelta(t, tm.death, tm.hookEnd, agreement, "%s: hook end against death: %v", who, tm)
			}
			// The kubelet calls StopContainer right after the hook,
			// whatever the process did; the simulator sends the signal
			// unless it has already seen the exit (a race it may lose, as
			// containerd may: a signal to an exiting process is harmless).
			assert.InDelta(t, real.hookEnd, real.stopCall, agreement, "kubelet: StopContainer after the hook: %v", real)
			if sim.stopCall >= 0 {
				assert.InDelta(t, sim.hookEnd, sim.stopCall, agreement, "simulator: signal after the hook: %v", sim)
			}
			if c.exitInHook == "unanswered" {
				reasons, err := events(context.Background(), r, "timing-"+c.name)
				require.NoError(t, err)
				assert.Contains(t, reasons, "FailedPreStopHook", "kubelet: a hook whose connection broke is reported")
			}
			assert.InDelta(t, real.hookEnd-real.hookStart, sim.hookEnd-sim.hookStart, agreement, "hook end after hook start")
			// The container shows as terminated in the API once the
			// kubelet's PLEG has relisted (every 1 s,
			// pkg/kubelet/kubelet.go genericPlegRelistPeriod) and the status
			// manager has written the status.
			assert.Less(t, real.terminated-real.death, 3.0, "kubelet: container reported terminated after death: %v", real)
			assert.Less(t, sim.exitSeen-sim.death, agreement, "simulator: exit seen after death: %v", sim)
		})
	}
}
