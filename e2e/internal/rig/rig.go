// Package rig brings up a real two-node Kubernetes on this machine for the
// end-to-end tests, and tears it down again. It assembles the cluster
// from the packages that each run one part of it, and owns what is
// cluster-wide: the rig's directory, the order of start and teardown,
// the watchdog that tears down after a crash, and the check that nothing
// is left behind. The scenarios live in the tests.
//
// What runs where:
//
//   - package binaries, in the machine's own network namespace (it needs the
//     Go module proxy): the binaries, cached between runs, and the images;
//   - [Up], in a fresh network namespace that becomes the lab (package
//     netlab: the lab's bridge, a namespace per node): the control plane
//     (package controlplane) in the lab's namespace, and each node
//     (package node) in its own: containerd, kubelet, kube-proxy, CNI
//     bridge. Package proc starts and stops all of their processes.
//
// Nothing is routed to or from the machine's interfaces and no rule is
// written outside the lab's namespaces. The kubelets run in private mount
// namespaces in which the kernel tunables they would set are shadowed, so
// the machine keeps its own. [Rig.Down] ends only the processes the rig
// started, by PID (and the shims of its containerds), and removes the
// mounts, cgroups, namespaces and paths they made.
//
// It needs Linux with cgroup v1, root, and the go command.
package rig

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lameduck/lameduck/e2e/internal/binaries"
	"github.com/lameduck/lameduck/e2e/internal/controlplane"
	"github.com/lameduck/lameduck/e2e/internal/kube"
	"github.com/lameduck/lameduck/e2e/internal/netlab"
	"github.com/lameduck/lameduck/e2e/internal/node"
	"github.com/lameduck/lameduck/e2e/internal/proc"
)

// DefaultNodes is the number of nodes.
const DefaultNodes = 2

// Config says how the rig runs.
type Config struct {
	// Nodes defaults to [DefaultNodes].
	Nodes int
	// Keep leaves the temporary directory (logs, data) after Down.
	Keep bool
	// Logf reports progress; nil discards it.
	Logf func(format string, args ...any)
}

// Rig is a running cluster. Create it with [Up]; end it with [Rig.Down].
type Rig struct {
	// Dir is the temporary directory everything lives in.
	Dir string
	// Bin holds the test programs (timing, pause, the examples).
	Bin string
	// API is a client of the API server, with the admin's token.
	API *kube.Client
	// Nodes are the nodes, in order.
	Nodes []*node.Node
	// Node, KubeletLog and PodLogsDir are the first node's name, kubelet
	// log and podLogsDir, for tests about one kubelet.
	Node, KubeletLog, PodLogsDir string
	// Lab is the network the cluster lives in.
	Lab *netlab.Lab

	cfg      Config
	procs    *proc.Group
	cp       *controlplane.ControlPlane
	sysctls  map[string]string
	absent   []string // host paths the kubelet or containerd may create that did not exist before
	watchdog *watchdog
}

// hostPaths are paths outside the rig's directory that kubelet and
// containerd 1.6 create whatever their configuration says.
var hostPaths = []string{
	"/var/lib/kubelet", "/var/log/pods", "/var/log/containers", "/run/containerd",
	"/usr/libexec/kubernetes", "/etc/kubernetes", "/var/lib/cni",
}

func (r *Rig) logf(format string, args ...any) {
	if r.cfg.Logf != nil {
		r.cfg.Logf("rig: "+format, args...)
	}
}

// Up brings up the lab network, the control plane and the nodes from what
// package binaries made, and returns once every node is registered and Ready
// and pods can be created. It must run in a fresh network namespace (see
// package netlab). On error it tears down what it started and returns the
// error.
func Up(ctx context.Context, cfg Config, built *binaries.Built) (_ *Rig, err error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = DefaultNodes
	}
	r := &Rig{cfg: cfg, Bin: built.Bin()}
	for i := 1; i <= cfg.Nodes; i++ {
		if _, err := os.Stat(node.CgroupPath("cpu", i)); err == nil {
			return nil, fmt.Errorf("rig: %s exists: another rig runs here, or one was killed before its teardown (remove those cgroups once nothing runs in them)", node.CgroupPath("cpu", i))
		}
	}
	if r.sysctls, err = node.ReadSysctls(); err != nil {
		return nil, err
	}
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			r.absent = append(r.absent, p)
		}
	}
	if r.Dir, err = os.MkdirTemp("", "lameduck-e2e-"); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.Down())
		}
	}()
	r.logf("directory %s", r.Dir)
	for _, d := range []string{"run", "logs", "etc", "data"} {
		if err := os.MkdirAll(filepath.Join(r.Dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("rig: %w", err)
		}
	}
	r.procs = proc.NewGroup(filepath.Join(r.Dir, "run"), r.logf)
	if err := r.startWatchdog(); err != nil {
		return nil, err
	}
	if r.Lab, err = netlab.New(ctx, cfg.Nodes, r.logf); err != nil {
		return nil, err
	}
	for _, n := range r.Lab.Nodes {
		_ = os.WriteFile(filepath.Join(r.Dir, "run", "netns-"+n.Name+".pid"), []byte(strings.TrimSuffix(strings.TrimPrefix(n.NetNS, "/proc/"), "/ns/net")), 0o644)
	}
	logs := filepath.Join(r.Dir, "logs")
	if r.cp, err = controlplane.Start(ctx, r.procs, filepath.Join(r.Dir, "cp"), logs, built.K8sBin, r.logf); err != nil {
		return nil, err
	}
	r.API = r.cp.API
	for i, ln := range r.Lab.Nodes {
		n, err := node.Start(ctx, node.Config{
			Index: i + 1, Net: ln, Dir: filepath.Join(r.Dir, ln.Name), LogDir: logs,
			Built: built, Kubeconfig: r.cp.NodeKubeconfig, Procs: r.procs, Logf: r.logf,
		})
		if err != nil {
			return nil, err
		}
		r.Nodes = append(r.Nodes, n)
	}
	r.Node, r.KubeletLog, r.PodLogsDir = r.Nodes[0].Name, r.Nodes[0].KubeletLog, r.Nodes[0].PodLogsDir
	for _, n := range r.Nodes {
		if err := n.WaitReady(ctx, r.API); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// SetProxyMode restarts every node's kube-proxy in mode (node.ProxyNFTables
// or node.ProxyIPTables); see [node.Node.SetProxyMode].
func (r *Rig) SetProxyMode(ctx context.Context, mode string) error {
	for _, n := range r.Nodes {
		if err := n.SetProxyMode(ctx, mode); err != nil {
			return err
		}
	}
	return nil
}
