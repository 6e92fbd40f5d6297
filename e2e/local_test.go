package e2e

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/lameduck/lameduck/e2e/internal/binaries"
	"github.com/lameduck/lameduck/e2e/internal/lb"
	"github.com/lameduck/lameduck/e2e/internal/netlab"
)

// TestExternalTrafficPolicyLocal puts each strategy's Deployment of
// examples/http (2 replicas, one per node) behind a LoadBalancer Service with
// externalTrafficPolicy: Local, and HAProxy in front of both nodes'
// NodePorts as the cloud load balancer, health-checking each node's
// healthCheckNodePort. Under open-loop load through HAProxy, it drains the
// first node: its pods were that node's last local endpoints, while the
// other node serves. kube-proxy on the drained node falls back to its
// terminating endpoints while they are serving, until the balancer's
// health checks take the node out. A lameduck pod probed on /readyz stops
// serving in the EndpointSlice at its next probe, which can come before
// the balancer has taken the node out (2 checks 1 s apart), so it may
// fail requests where sleep fails none. lameduck probed on /servingz, the
// default, stays serving through its delay: the test asserts that it
// fails no more requests than the best anchor, which is none where sleep
// fails none; lameduck on /readyz is only logged.
func TestExternalTrafficPolicyLocal(t *testing.T) {
	r := needRig(t)
	two := int32(2)
	s := newScenarioOf(t, r, "local", readManifest(t, "http.yaml"), binaries.HTTPImage, strategies, false, func(w *workload) {
		w.deployment.Spec.Replicas = &two
		w.deployment.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector: &metav1.LabelSelector{MatchLabels: w.deployment.Spec.Selector.MatchLabels},
		}}
		w.service.Spec.Type = corev1.ServiceTypeLoadBalancer // healthCheckNodePort exists only for LoadBalancer Services
		w.service.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	})
	s.viaLB = true
	var fronts []lb.Frontend
	addrs := map[string]string{}
	var nodes []netip.Addr
	for _, n := range r.Nodes {
		nodes = append(nodes, n.Addr)
	}
	for i, w := range s.workloads {
		svc := s.services[w.strategy]
		require.NotZero(t, svc.Spec.HealthCheckNodePort, "%s: no healthCheckNodePort", svc.Name)
		f := lb.Frontend{Name: w.strategy, Listen: netip.AddrPortFrom(netlab.Gateway, uint16(18080+i)), Nodes: nodes,
			NodePort: int(svc.Spec.Ports[0].NodePort), HealthCheckNodePort: int(svc.Spec.HealthCheckNodePort)}
		fronts = append(fronts, f)
		addrs[w.strategy] = f.Listen.String()
		one := intstr.FromInt(1)
		pdb := &policyv1.PodDisruptionBudget{ObjectMeta: meta(w.deployment.Name, nil), Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: w.deployment.Spec.Selector.MatchLabels}}}
		require.NoError(t, r.API.Create(s.ctx, pdbPath, pdb, nil))
		t.Cleanup(func() { _ = r.API.Delete(context.Background(), pdbPath+"/"+pdb.Name, nil) })
	}
	node := r.Nodes[0]
	for _, w := range s.workloads {
		on := map[string]int{}
		for _, p := range s.podsOf(w) {
			on[s.pods.end(p).Node]++
		}
		require.Equal(t, 1, on[node.Name], "%s: want one pod per node, got %v", w.strategy, on)
	}
	dir := filepath.Join(r.Dir, "lb")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	balancer, err := lb.Start(s.ctx, dir, lb.Config{}, fronts)
	require.NoError(t, err)
	defer func() { assert.NoError(t, balancer.Close()) }()
	waitBudgets(t, s, 30*time.Second)
	loadCtx, stopLoad := context.WithCancel(s.ctx)
	defer stopLoad()
	s.startLoadTo(loadCtx, addrs, nil, nil)
	time.Sleep(3 * time.Second) // steady load, and the balancer's checks passed

	evicted := drain(t, s, node)
	t.Cleanup(func() { _ = setUnschedulable(context.Background(), r, node, false) })
	for _, w := range s.workloads {
		s.waitRolledOut(w, 3*time.Minute)
	}
	time.Sleep(2 * time.Second)
	stopLoad()
	results := s.waitLoad()
	require.NoError(t, setUnschedulable(s.ctx, r, node, false))
	s.scaleToZero()

	outs := s.outcomes(results, func(p string) bool { _, ok := evicted[p]; return ok }, func(p string) time.Time { return evicted[p] })
	t.Log(table("externalTrafficPolicy: Local, drain of the node with the last local endpoints, HAProxy health-checking healthCheckNodePort", outs))
	s.logTimelines(outs)
	compareWithAnchors(t, outs, true)
}
