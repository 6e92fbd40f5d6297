package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/e2e/internal/binaries"
)

// TestScaleDown scales the Deployments of examples/http, one per strategy,
// from 3 replicas to 1 under open-loop load through each Service's
// ClusterIP: the ReplicaSet controller deletes two pods while a ready one
// remains, so kube-proxy never needs its fallback to terminating
// endpoints.
func TestScaleDown(t *testing.T) {
	r := needRig(t)
	s := newScenario(t, r, "scaledown", readManifest(t, "http.yaml"), binaries.HTTPImage)
	loadCtx, stopLoad := context.WithCancel(s.ctx)
	defer stopLoad()
	s.startLoad(loadCtx)
	time.Sleep(2 * time.Second) // steady load before the change

	scaled := time.Now()
	for _, w := range s.workloads {
		require.NoError(t, r.API.Patch(s.ctx, deploymentsPath+"/"+w.deployment.Name, map[string]any{"spec": map[string]any{"replicas": 1}}))
	}
	for _, w := range s.workloads {
		s.waitRolledOut(w, 3*time.Minute)
	}
	ended := s.waitEnded(time.Minute)
	time.Sleep(2 * time.Second) // load after the last pod is gone
	stopLoad()
	results := s.waitLoad()
	s.scaleToZero()

	outs := s.outcomes(results, func(p string) bool { return ended[p] }, func(string) time.Time { return scaled })
	t.Log(table("scale-down 3 -> 1, http, kube-proxy nftables", outs))
	s.logTimelines(outs)
	recordPropagation(t, "scale-down", outs)
	for _, o := range outs {
		require.Greater(t, o.res.Sent, (keepAliveRate+newConnRate)*5, "%s: too little load to prove anything", o.strategy)
		require.Len(t, o.terminations, 2, "%s: pods scaled away", o.strategy)
		switch o.strategy {
		case lameduck, lameduckReadyz:
			assertClean(t, o)
		case none:
			assertNoneBreaks(t, o)
		}
	}
}

// waitEnded waits until every pod the watch shows being deleted is gone,
// and returns them.
func (s *scenario) waitEnded(timeout time.Duration) map[string]bool {
	s.t.Helper()
	ended := map[string]bool{}
	s.pods.mu.Lock()
	for n, e := range s.pods.ends {
		if !e.Deleting.IsZero() {
			ended[n] = true
		}
	}
	s.pods.mu.Unlock()
	names := make([]string, 0, len(ended))
	for n := range ended {
		names = append(names, n)
	}
	s.pods.waitGone(s.t, timeout, names...)
	return ended
}

// logTimelines logs the endpoint timeline of the first ended pod of each
// strategy, and the first failures.
func (s *scenario) logTimelines(outs []outcome) {
	for _, o := range outs {
		if len(o.terminations) > 0 {
			tm := o.terminations[0]
			s.t.Logf("%s: endpoint of %s, seconds after its deletionTimestamp was seen:\n%s", o.strategy, tm.pod, s.slices.timeline(tm.key, tm.deleting))
		}
		for _, f := range o.res.First() {
			s.t.Logf("%s failure: %s", o.strategy, f)
		}
	}
}

// assertClean asserts what lameduck promises: no failed request, no lost
// write, every ended pod exited 0.
// assertNoneBreaks checks that the rig sees what a server without signal
// handling breaks: SIGTERM kills it, so requests in flight fail, or the
// writes it acknowledged but had not flushed are lost (with a single pod
// of it ended, the kill can land between requests and cost only writes).
func assertNoneBreaks(t *testing.T, o outcome) {
	t.Helper()
	assert.True(t, o.res.Failed() > 0 || o.lost() > 0,
		"none: neither a failed request nor a lost write: the scenario proves nothing (%v, rows %d, lines %d)", o.res, o.rows, o.lines)
}

func assertClean(t *testing.T, o outcome) {
	t.Helper()
	assert.Zero(t, o.res.Failed(), "%s: failed requests: %v", o.strategy, o.res)
	assert.Equal(t, o.res.OK, o.rows, "%s: rows = successful requests (lost or extra writes)", o.strategy)
	assert.Equal(t, o.res.OK, o.lines, "%s: journal lines = successful requests", o.strategy)
	for _, tm := range o.terminations {
		assert.Equal(t, int32(0), tm.exitCode, "%s: exit code of %s (%s)", o.strategy, tm.pod, tm.reason)
	}
}
