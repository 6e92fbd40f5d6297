// Package e2e proves lameduck on a real kubelet and a real control plane.
// It is a module of its own, so that Kubernetes' dependencies never enter
// the go.mod of the library or of its examples. Its tests bring up, from
// nothing, containerd, etcd, kube-apiserver, kube-controller-manager and
// the kubelet on this machine (package rig), then:
//
//   - roll the example services (examples/http and examples/grpc, with the
//     lifecycle of examples/kubernetes) one pod at a time through the API,
//     as a Deployment with maxSurge 1 and maxUnavailable 0 does, under
//     open-loop load that never retries, behind a balancer that follows
//     the real EndpointSlice watch with kube-proxy's 1 s sync delay; and
//     check zero failed requests, zero lost writes and exit code 0; and, as
//     the control, see the strategies it is compared with fail requests on
//     the same rig;
//   - time the real kubelet against package shutdown/shutdowntest's
//     simulator on the same pod spec;
//   - show two kubelet facts the library's users must know: a preStop URL
//     that answers 404 counts as a completed hook, and a Go program that is
//     PID 1 exits 2 on a SIGTERM it does not handle.
//
// Run it as root on Linux with cgroup v1:
//
//	go -C e2e test -count=1 -timeout 40m ./...
//
// Elsewhere (not Linux, not root) the tests skip and say why. The first run
// builds the Kubernetes binaries from the Go module proxy (about 10 minutes
// on two busy cores) and caches them in $XDG_CACHE_HOME/lameduck-e2e. Set
// LAMEDUCK_E2E_KEEP=1 to keep the rig's directory (logs, data) afterwards.
package e2e
