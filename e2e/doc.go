// Package e2e proves lameduck on Kubernetes' real data path. It is a
// module of its own, so that Kubernetes' dependencies never enter the
// go.mod of the library or of its examples.
//
// Its tests build (package binaries, in the machine's network namespace: the
// Go module proxy is needed) etcd, the Kubernetes binaries and the CNI
// plugins, then run themselves again in a fresh network and mount
// namespace, where package rig brings up a two-node cluster from nothing:
// the lab's network (package netlab); a control plane (package
// controlplane) with kube-scheduler and the controllers of Deployments,
// ReplicaSets, StatefulSets, PodDisruptionBudgets and EndpointSlices; two
// nodes (package node), each in a network namespace of its own with its
// own containerd, kubelet, kube-proxy in nftables mode and CNI bridge.
// Package proc starts and stops their processes. Every address of the
// cluster lives in those namespaces; the machine's own links, routes,
// nftables rule set and iptables rules are checked unchanged afterwards.
// The scenarios are this package's tests; the machinery is under
// internal/.
//
// The scenarios run the examples' services (examples/http with the
// lifecycle of examples/kubernetes) through the API as a user would, with
// every strategy side by side as a Deployment and Service of its own
// (none, shutdown, sleep, lameduck), under open-loop load that never
// retries, sent to each Service's ClusterIP from inside the nodes:
//
//   - a rollout restart (maxSurge 1, maxUnavailable 0, 3 replicas);
//   - a scale-down from 3 replicas to 1;
//   - a node drain: cordon, then evictions under a PodDisruptionBudget;
//   - a StatefulSet of one replica updated 3 times, where the only
//     endpoint is terminating for a while, then gone until its replacement
//     is ready;
//   - a LoadBalancer Service with externalTrafficPolicy: Local behind
//     HAProxy health-checking its healthCheckNodePort on both nodes
//     (package lb), draining the node with the last local endpoints;
//   - lameduck pods deleted with a grace period of 3 s where their spec
//     says 30 s and their delay is 5 s: each must exit 0 before the kill.
//
// Each logs a table of failed requests, lost writes, SIGKILLs and exit
// times per strategy, the EndpointSlice timeline of a terminated pod, and
// the time from the API call to the last new connection kube-proxy sent
// the old pod (from the nodes' conntrack tables). lameduck must fail no
// request and lose no write where it promises to; in the StatefulSet,
// where no strategy avoids the outage, its endpoint must stay serving
// until its delay is over and the pod be gone within 5 s of it; the
// anchors must
// fail where they should, which shows that the rig sees failures. The
// rollout runs once more with kube-proxy in iptables mode. Other tests
// time the real kubelet against package shutdown/shutdowntest's simulator
// (hooks answered, abandoned, or cut by the process's exit, and a deletion
// shorter than the delay): the kubelet's decisions, read from its log,
// must match the simulator's within 100 ms, and the runtime's delivery of
// each signal must follow within 500 ms. Two more show kubelet facts the
// library's users must know.
//
// Run it as root on Linux with cgroup v1:
//
//	go -C e2e test -count=1 -timeout 60m ./...
//
// Elsewhere (not Linux, not root) the tests skip and say why. The first run
// builds the binaries from the Go module proxy (10 to 30 minutes on two
// busy cores) and caches them in $XDG_CACHE_HOME/lameduck-e2e.
// LAMEDUCK_E2E_K8S_VERSION sets the Kubernetes release (default
// binaries.DefaultK8sVersion). Set LAMEDUCK_E2E_KEEP=1 to keep the rig's
// directory (logs, data) afterwards. LAMEDUCK_E2E_READYZ=1 adds
// lameduck with the kubelet probing /readyz to every scenario, the
// comparison that made the manifests probe /servingz.
// LAMEDUCK_E2E_STS_ROUNDS sets how many times the StatefulSets are updated
// (default 3), and LAMEDUCK_E2E_BEST_ANCHOR=1 asserts that lameduck's
// failures over them are no more than the best anchor's: a statistical
// comparison, for many rounds.
package e2e
