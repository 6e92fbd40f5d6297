package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/e2e/internal/binaries"
	"github.com/lameduck/lameduck/e2e/internal/rig"
	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

// TestDeletionShorterThanDelay deletes lameduck pods the way
// `kubectl delete --grace-period=3` does, a node-pressure eviction or a
// graceful node shutdown would: the pod spec says 30 s and the process
// plans a 5 s delay, but the deletion gives 3 s. The kubelet stops waiting
// for the /prestop hook at 3 s and sends SIGTERM, with SIGKILL 2 s later
// (its floor). The process takes that SIGTERM as the sign: it ends the
// delay and drains within what is left. Every pod must exit 0, not 137,
// with no lost write, under open-loop load.
func TestDeletionShorterThanDelay(t *testing.T) {
	r := needRig(t)
	s := newScenarioOf(t, r, "shortgrace", readManifest(t, "http.yaml"), binaries.HTTPImage, []string{lameduck}, false, nil)
	loadCtx, stopLoad := context.WithCancel(s.ctx)
	defer stopLoad()
	s.startLoad(loadCtx)
	time.Sleep(2 * time.Second) // steady load before the deletions

	grace := int64(3)
	deleted := map[string]time.Time{}
	for _, w := range s.workloads {
		for _, p := range s.podsOf(w) {
			deleted[p] = time.Now()
			require.NoError(t, r.API.Delete(s.ctx, podsPath+"/"+p, &grace), "delete %s", p)
		}
	}
	require.Eventually(t, func() bool {
		for p := range deleted {
			if s.pods.end(p).Deleting.IsZero() {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "the watch shows every deletion")
	ended := s.waitEnded(time.Minute)
	time.Sleep(2 * time.Second) // load after the last pod is gone
	stopLoad()
	results := s.waitLoad()
	s.scaleToZero()

	outs := s.outcomes(results, func(p string) bool { return ended[p] }, func(p string) time.Time { return deleted[p] })
	t.Log(table("deletion with --grace-period=3 (spec 30 s, delay 5 s), http, kube-proxy nftables", outs))
	s.logTimelines(outs)
	for _, o := range outs {
		require.NotEmpty(t, o.terminations, "%s: no pod ended", o.strategy)
		if o.res.Failed() > 0 {
			t.Logf("%s: %d of %d requests failed: %v", o.strategy, o.res.Failed(), o.res.Sent, o.res)
		}
		assert.Equal(t, o.res.OK, o.rows, "%s: rows = successful requests", o.strategy)
		assert.Equal(t, o.res.OK, o.lines, "%s: journal lines = successful requests", o.strategy)
		for _, tm := range o.terminations {
			// exitAfter is when the API showed the container terminated,
			// later than the exit itself: the exit code is the proof.
			assert.Equal(t, int32(0), tm.exitCode, "%s: exit code of %s (%s): 137 is the kubelet's SIGKILL", o.strategy, tm.pod, tm.reason)
		}
	}

	// The same termination under shutdowntest's simulator, against what
	// the kubelet did to each pod (its own log lines, seconds after it
	// started the termination): it waits for /prestop the deletion's 3 s,
	// abandons it, calls StopContainer with the 2 s floor, and the process
	// exits before the kill.
	sim := shortGraceSimulated(t, r)
	t.Logf("simulator: %v", sim)
	for p := range ended {
		e := s.pods.end(p)
		name, _, _ := strings.Cut(p, "#")
		var log string
		for _, n := range r.Nodes {
			if n.Name == e.Node {
				log = n.KubeletLog
			}
		}
		require.NotEmpty(t, log, "%s: node %q", p, e.Node)
		ref, _, err := kubeletLineIn(log, deleted[p], name, "Killing container with a grace period override")
		require.NoError(t, err, "%s: the kubelet's start of the termination", p)
		real := timings{exitCode: int(e.ExitCode), sigterm: -1, death: -1, hookStart: -1, terminated: secondsAfter(ref, e.Terminated)}
		require.NoError(t, kubeletStamps(log, deleted[p], ref, name, &real), p)
		t.Logf("kubelet %s: %v; container terminated in the API %+.3f", name, real, real.terminated)
		for who, tm := range map[string]timings{"kubelet " + name: real, "simulator": sim} {
			assert.Equal(t, "abandoned", tm.hookOutcome, "%s: /prestop outlives the deletion's grace period: %v", who, tm)
			assert.InDelta(t, 3.0, tm.hookEnd, agreement, "%s: the wait for the hook ends at the deletion's 3 s: %v", who, tm)
			assert.InDelta(t, tm.hookEnd, tm.stopCall, agreement, "%s: the stop call follows at once: %v", who, tm)
			assert.Less(t, tm.exitSeen-tm.stopCall, shutdowntest.MinGraceAfterSignal.Seconds(), "%s: exit before the kill: %v", who, tm)
			assert.Equal(t, 0, tm.exitCode, "%s: exit code: %v", who, tm)
		}
		assert.InDelta(t, shutdowntest.MinGraceAfterSignal.Seconds(), real.stopGrace, 0, "kubelet %s: the grace period StopContainer got is the 2 s floor", name)
		assert.InDelta(t, real.hookEnd, sim.hookEnd, agreement, "%s: the end of the wait for the hook, kubelet against simulator", name)
		assert.InDelta(t, real.stopCall, sim.stopCall, agreement, "%s: the stop call, kubelet against simulator", name)
	}
}

// shortGraceSimulated runs the lameduck example as a child process with
// the manifest's settings and terminates it with shutdowntest's Kubelet
// as TestDeletionShorterThanDelay's deletion does: spec grace 30 s,
// deletion grace 3 s, the /prestop hook. The timings are seconds after
// Terminate starts; the process's own stamps are not known (-1).
func shortGraceSimulated(t *testing.T, r *rig.Rig) timings {
	t.Helper()
	ports := freePorts(t, 2)
	cmd := exec.Command(filepath.Join(r.Bin, "http"))
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("ADDR=127.0.0.1:%d", ports[0]), fmt.Sprintf("ADMIN_ADDR=127.0.0.1:%d", ports[1]),
		"SHUTDOWN_GRACE_PERIOD=30s", "SHUTDOWN_PROPAGATION_DELAY=5s", "DATA_DIR="+t.TempDir(), "STRATEGY=lameduck")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	p := shutdowntest.Command(cmd)
	admin := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	require.Eventually(t, func() bool {
		resp, err := http.Get(admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "the example never got ready")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k := &shutdowntest.Kubelet{
		GracePeriod: 30 * time.Second, DeletionGracePeriod: 3 * time.Second,
		PreStop: &shutdowntest.HTTPGet{URL: admin + "/prestop"},
		Logf:    t.Logf,
	}
	rep := k.Terminate(ctx, p)
	tm := timings{hookStart: -1, sigterm: -1, death: -1, terminated: -1}
	simulatorStamps(rep, &tm)
	return tm
}
