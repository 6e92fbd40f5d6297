package e2e

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/e2e/internal/binaries"
)

// TestStatefulSetUpdate updates a StatefulSet of one replica of
// examples/http per strategy (a pod template annotation) under open-loop
// load through its Service's ClusterIP. The StatefulSet controller deletes
// the pod and makes its replacement only once it is gone, so for a while
// the Service's only endpoint is terminating, and kube-proxy falls back to
// it while it is still serving (KEP-1669); then there is no endpoint at
// all until the new pod is ready, which every strategy pays for.
//
// The kubelet's readiness probe decides how long the fallback lasts: a
// lameduck pod probed on /readyz fails it at the trigger and drops out of
// the fallback while it still serves; one probed on /servingz stays in
// it until its drain starts. And the replacement is made only once the
// old pod is gone, so every second the old pod lives after it stops
// getting traffic is a second of outage: the anchor that exits at once
// fails fewest. lameduck does not fail fewer than that today, so the
// comparison with the best anchor is asserted only with
// LAMEDUCK_E2E_BEST_ANCHOR=1; the figures are always logged.
func TestStatefulSetUpdate(t *testing.T) {
	r := needRig(t)
	s := newScenarioOf(t, r, "sts", readManifest(t, "http.yaml"), binaries.HTTPImage, strategies, true, nil)
	old := map[string]bool{}
	for _, w := range s.workloads {
		for _, p := range s.podsOf(w) {
			old[p] = true
		}
	}
	loadCtx, stopLoad := context.WithCancel(s.ctx)
	defer stopLoad()
	s.startLoad(loadCtx)
	time.Sleep(2 * time.Second) // steady load before the change

	updated := time.Now()
	for _, w := range s.workloads {
		patch := map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{"kubectl.kubernetes.io/restartedAt": updated.UTC().Format(time.RFC3339)}}}}}
		require.NoError(t, r.API.Patch(s.ctx, w.path+"/"+w.deployment.Name, patch))
	}
	for _, w := range s.workloads {
		s.waitRolledOut(w, 3*time.Minute)
	}
	time.Sleep(2 * time.Second) // load after the new pod is ready
	stopLoad()
	results := s.waitLoad()
	s.scaleToZero()

	// The old pods' records were kept under names of their own when their
	// replacements (of the same names) appeared.
	ended := func(p string) bool {
		e := s.pods.end(p)
		return !e.Created.After(updated) && !e.Deleting.IsZero()
	}
	outs := s.outcomes(results, ended, func(string) time.Time { return updated })
	t.Log(table("StatefulSet of 1 updated, http, kube-proxy nftables", outs))
	s.logTimelines(outs)
	recordPropagation(t, "StatefulSet update", outs)
	compareWithAnchors(t, outs)
}

// compareWithAnchors asserts what holds in every scenario where kube-proxy
// may fall back to terminating endpoints: lameduck loses no write and its
// pods exit 0, and none fails requests. How lameduck's failures compare
// with the best anchor's is logged, and asserted with bestAnchorEnv.
func compareWithAnchors(t *testing.T, outs []outcome) {
	t.Helper()
	best := -1
	for _, o := range outs {
		require.Greater(t, o.res.Sent, (keepAliveRate+newConnRate)*5, "%s: too little load to prove anything", o.strategy)
		if slices.Contains([]string{none, shutdownAtSIGTERM, sleep}, o.strategy) && (best < 0 || o.res.Failed() < best) {
			best = o.res.Failed()
		}
	}
	strict := os.Getenv(bestAnchorEnv) == "1"
	for _, o := range outs {
		switch o.strategy {
		case lameduck, lameduckReadyz:
			if o.res.Failed() > best {
				t.Logf("%s failed %d requests, the best anchor %d", o.strategy, o.res.Failed(), best)
			}
			if strict {
				assert.LessOrEqual(t, o.res.Failed(), best, "%s fails no more than the best anchor", o.strategy)
			}
			assert.Equal(t, o.res.OK, o.rows, "%s: rows = successful requests", o.strategy)
			assert.Equal(t, o.res.OK, o.lines, "%s: journal lines = successful requests", o.strategy)
			for _, tm := range o.terminations {
				assert.Equal(t, int32(0), tm.exitCode, "%s: exit code of %s (%s)", o.strategy, tm.pod, tm.reason)
			}
		case none:
			assertNoneBreaks(t, o)
		}
	}
}

// bestAnchorEnv makes TestStatefulSetUpdate and
// TestExternalTrafficPolicyLocal assert that lameduck fails no more
// requests than the best anchor (and none where an anchor fails none),
// which lameduck probed on /readyz does not always do today.
const bestAnchorEnv = "LAMEDUCK_E2E_BEST_ANCHOR"
