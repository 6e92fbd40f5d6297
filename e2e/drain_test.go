package e2e

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/lameduck/lameduck/e2e/internal/binaries"
	"github.com/lameduck/lameduck/e2e/internal/kube"
	"github.com/lameduck/lameduck/e2e/internal/node"
	"github.com/lameduck/lameduck/e2e/internal/rig"
)

// TestNodeDrain drains the first node as "kubectl drain" does, under
// open-loop load through each Service's ClusterIP: cordon it, then evict
// each of its pods through the Eviction API under a PodDisruptionBudget
// (maxUnavailable 1) per Deployment, retrying while the budget answers
// 429. The ReplicaSets replace the evicted pods on the other node.
func TestNodeDrain(t *testing.T) {
	r := needRig(t)
	s := newScenario(t, r, "drain", readManifest(t, "http.yaml"), binaries.HTTPImage)
	for _, w := range s.workloads {
		one := intstr.FromInt(1)
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: meta(w.deployment.Name, nil),
			Spec: policyv1.PodDisruptionBudgetSpec{
				MaxUnavailable: &one,
				Selector:       &metav1.LabelSelector{MatchLabels: w.deployment.Spec.Selector.MatchLabels},
			},
		}
		require.NoError(t, r.API.Create(s.ctx, pdbPath, pdb, nil))
		t.Cleanup(func() { _ = r.API.Delete(context.Background(), pdbPath+"/"+pdb.Name, nil) })
	}
	// The disruption controller must have counted the pods before an
	// eviction can be allowed.
	waitBudgets(t, s, 30*time.Second)
	loadCtx, stopLoad := context.WithCancel(s.ctx)
	defer stopLoad()
	s.startLoad(loadCtx)
	time.Sleep(2 * time.Second) // steady load before the change

	node := r.Nodes[0]
	evicted := drain(t, s, node)
	t.Cleanup(func() { _ = setUnschedulable(context.Background(), r, node, false) })
	for _, w := range s.workloads {
		s.waitRolledOut(w, 3*time.Minute)
	}
	time.Sleep(2 * time.Second) // load after the last pod is gone
	stopLoad()
	results := s.waitLoad()
	require.NoError(t, setUnschedulable(s.ctx, r, node, false))
	s.scaleToZero()

	outs := s.outcomes(results, func(p string) bool { _, ok := evicted[p]; return ok }, func(p string) time.Time { return evicted[p] })
	t.Log(table("node drain (cordon, evictions under a PodDisruptionBudget), http, kube-proxy nftables", outs))
	s.logTimelines(outs)
	recordPropagation(t, "node drain", outs)
	for _, o := range outs {
		require.Greater(t, o.res.Sent, (keepAliveRate+newConnRate)*5, "%s: too little load to prove anything", o.strategy)
		if len(o.terminations) == 0 {
			t.Logf("%s: the scheduler put no pod on %s; nothing to drain", o.strategy, node.Name)
			continue
		}
		switch o.strategy {
		case lameduck, lameduckReadyz:
			assertClean(t, o)
		case none:
			assertNoneBreaks(t, o)
		}
	}
}

const pdbPath = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"

// waitBudgets waits until every workload's budget allows one disruption.
func waitBudgets(t *testing.T, s *scenario, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, w := range s.workloads {
		for {
			var pdb policyv1.PodDisruptionBudget
			err := s.r.API.Get(s.ctx, pdbPath+"/"+w.deployment.Name, &pdb)
			if err == nil && pdb.Status.ObservedGeneration >= pdb.Generation && pdb.Status.DisruptionsAllowed >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("budget %s: %v %+v", w.deployment.Name, err, pdb.Status)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func setUnschedulable(ctx context.Context, r *rig.Rig, n *node.Node, on bool) error {
	return r.API.Patch(ctx, "/api/v1/nodes/"+n.Name, map[string]any{"spec": map[string]any{"unschedulable": on}})
}

// drain cordons the node and evicts every workload pod on it at once, each
// retried every second while its budget answers 429 (kubectl drain waits
// 5 s), and returns when each eviction was accepted.
func drain(t *testing.T, s *scenario, n *node.Node) map[string]time.Time {
	t.Helper()
	require.NoError(t, setUnschedulable(s.ctx, s.r, n, true))
	var targets []string
	for _, p := range s.pods.live() {
		if s.pods.end(p).Node == n.Name {
			targets = append(targets, p)
		}
	}
	t.Logf("draining %s: %v", n.Name, targets)
	evicted := map[string]time.Time{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range targets {
		wg.Go(func() {
			at, err := evict(s.ctx, s.r, p, 3*time.Minute)
			if err != nil {
				t.Errorf("evict %s: %v", p, err)
				return
			}
			mu.Lock()
			evicted[p] = at
			mu.Unlock()
		})
	}
	wg.Wait()
	names := make([]string, 0, len(evicted))
	for p := range evicted {
		names = append(names, p)
	}
	s.pods.waitGone(t, 2*time.Minute, names...)
	return evicted
}

// evict posts an Eviction for the pod until it is accepted, and returns
// the time of the accepted call.
func evict(ctx context.Context, r *rig.Rig, pod string, timeout time.Duration) (time.Time, error) {
	ev := &policyv1.Eviction{ObjectMeta: meta(pod, nil)}
	ev.APIVersion, ev.Kind = "policy/v1", "Eviction"
	deadline := time.Now().Add(timeout)
	for {
		at := time.Now()
		err := r.API.Create(ctx, podsPath+"/"+pod+"/eviction", ev, nil)
		if err == nil {
			return at, nil
		}
		if !errors.Is(err, kube.ErrTooManyRequests) || time.Now().After(deadline) {
			return time.Time{}, err
		}
		time.Sleep(time.Second)
	}
}
