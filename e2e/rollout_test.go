package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/e2e/internal/binaries"
	"github.com/lameduck/lameduck/e2e/internal/node"
	"github.com/lameduck/lameduck/e2e/internal/rig"
)

// TestRollout restarts the Deployments of examples/http, one per
// strategy, as "kubectl rollout restart" does (a pod template annotation:
// maxSurge 1, maxUnavailable 0, 3 replicas over 2 nodes, pods placed by
// the scheduler, replaced by the Deployment and ReplicaSet controllers),
// under open-loop load through each Service's ClusterIP and the nodes'
// kube-proxies. lameduck must fail no request and lose no write, and
// every old pod must exit 0; the anchors that drop connections at SIGTERM
// must fail requests, which shows the rig sees failures.
func TestRollout(t *testing.T) {
	r := needRig(t)
	t.Run("http", func(t *testing.T) { rollout(t, r, "http", "rollout") })
	t.Run("grpc", func(t *testing.T) { rollout(t, r, "grpc", "rollout-grpc") })
}

// TestRolloutIPTables is TestRollout's HTTP case with every node's
// kube-proxy in iptables mode, the mode most clusters still run: its
// rules, its conntrack handling and its sync of terminating endpoints are
// kube-proxy's other implementation (pkg/proxy/iptables). The assertions
// are the same. kube-proxy is switched back to nftables afterwards. Its
// rules go into the nodes' namespaces only: the lab's namespace, where
// this test runs, gets none, and TestMain checks that the machine's own
// nftables rule set and iptables rules are unchanged after the run.
func TestRolloutIPTables(t *testing.T) {
	r := needRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	labBefore := labRules(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		require.NoError(t, r.SetProxyMode(ctx, node.ProxyNFTables))
	})
	require.NoError(t, r.SetProxyMode(ctx, node.ProxyIPTables))
	for _, n := range r.Nodes {
		nft, ipt, err := n.Rules(ctx)
		require.NoError(t, err)
		assert.NotContains(t, nft, "table ip kube-proxy", "%s: the nftables mode's table is left after the switch", n.Name)
		assert.Contains(t, ipt, "-A KUBE-SERVICES", "%s: no iptables rules of kube-proxy", n.Name)
	}
	// A tag of its own: the workloads' data directories, whose rows and
	// journal lines are counted, are named after it.
	rollout(t, r, "http", "rollout-ipt")
	assert.Equal(t, labBefore, labRules(t), "kube-proxy in iptables mode wrote rules in the lab's namespace, outside the nodes'")
}

// labRules returns the rules of the lab's network namespace, where the
// test process runs.
func labRules(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, argv := range [][]string{{"nft", "list", "ruleset"}, {"iptables-save"}} {
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		require.NoError(t, err, "%s: %s", argv, out)
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(line, "#") {
				b.WriteString(nftCounter.ReplaceAllString(iptCounter.ReplaceAllString(line, "[-:-]"), "counter") + "\n")
			}
		}
	}
	return b.String()
}

// rollout runs TestRollout for examples/http or examples/grpc, its
// workloads named with tag: the gRPC load is unary calls over 6
// connections, which stay on their pods until GOAWAY.
func rollout(t *testing.T, r *rig.Rig, proto, tag string) {
	image := binaries.HTTPImage
	if proto == "grpc" {
		image = binaries.GRPCImage
	}
	s := newScenario(t, r, tag, readManifest(t, proto+".yaml"), image)
	old := map[string]bool{}
	for _, w := range s.workloads {
		for _, p := range s.podsOf(w) {
			old[p] = true
		}
	}
	loadCtx, stopLoad := context.WithCancel(s.ctx)
	defer stopLoad()
	if proto == "grpc" {
		s.startGRPCLoad(loadCtx)
	} else {
		s.startLoad(loadCtx)
	}
	time.Sleep(2 * time.Second) // steady load before the change

	restarted := time.Now()
	for _, w := range s.workloads {
		patch := map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{"kubectl.kubernetes.io/restartedAt": restarted.UTC().Format(time.RFC3339)}}}}}
		require.NoError(t, r.API.Patch(s.ctx, deploymentsPath+"/"+w.deployment.Name, patch))
	}
	for _, w := range s.workloads {
		s.waitRolledOut(w, 3*time.Minute)
	}
	names := make([]string, 0, len(old))
	for p := range old {
		names = append(names, p)
	}
	s.pods.waitGone(t, time.Minute, names...)
	time.Sleep(2 * time.Second) // load after the last old pod is gone
	stopLoad()
	results := s.waitLoad()
	s.scaleToZero()

	outs := s.outcomes(results, func(p string) bool { return old[p] }, nil)
	recordPropagation(t, "rollout ("+r.Nodes[0].ProxyMode()+")", outs)
	t.Log(table("rollout restart, "+proto+", kube-proxy "+r.Nodes[0].ProxyMode(), outs))
	s.logTimelines(outs)
	for _, o := range outs {
		require.Greater(t, o.res.Sent, keepAliveRate*10, "%s: too little load to prove anything", o.strategy)
		require.Len(t, o.terminations, 3, "%s: old pods", o.strategy)
		switch o.strategy {
		case lameduck, lameduckReadyz:
			assertClean(t, o)
		case shutdownAtSIGTERM:
			if proto != "http" {
				break // logged: GracefulStop's GOAWAY moves calls to other connections
			}
			assert.Positive(t, o.res.Failed(), "shutdown: Server.Shutdown at SIGTERM closes the listener while kube-proxy still sends it connections")
		case none:
			if proto != "http" {
				break
			}
			assertNoneBreaks(t, o)
		}
	}
}
