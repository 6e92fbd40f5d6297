package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/e2e/internal/rig"
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
	s := newScenarioOf(t, r, "shortgrace", readManifest(t, "http.yaml"), rig.HTTPImage, []string{lameduck}, false, nil)
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
}
