// Package node runs one node of the cluster in its network namespace
// (package netlab): its containerd with the images loaded, its kubelet
// (own root directory, cgroup root and mount namespace, in which the
// kernel tunables it would set are shadowed so the machine keeps its
// own), its kube-proxy in nftables or iptables mode, and its CNI bridge
// for the pods. Everything of the node lives in its directory.
package node

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lameduck/lameduck/e2e/internal/binaries"
	"github.com/lameduck/lameduck/e2e/internal/kube"
	"github.com/lameduck/lameduck/e2e/internal/netlab"
	"github.com/lameduck/lameduck/e2e/internal/proc"
)

// Node is one node: its network namespace, and the containerd, kubelet and
// kube-proxy that run in it, each with a directory of its own.
type Node struct {
	// Name is the node's name in the API.
	Name string
	// Addr is its InternalIP, on the lab network.
	Addr netip.Addr
	// Dir holds everything of the node: containerd's root and state, the
	// kubelet's root, the pod logs, the CNI allocations.
	Dir string
	// KubeletLog is its kubelet's log (klog, -v=3, UTC).
	KubeletLog string
	// PodLogsDir is its kubelet's podLogsDir.
	PodLogsDir string
	// Net is its network namespace: Net.Dial connects from the node.
	Net *netlab.Node

	cfg       Config
	sock      string     // containerd's socket
	proxy     *proc.Proc // kube-proxy
	proxyMode string     // kube-proxy's --proxy-mode
}

// Config says what a node runs and where.
type Config struct {
	// Index is the node's number, from 1: it names its cgroup root.
	Index int
	// Net is the node's network namespace.
	Net *netlab.Node
	// Dir is the node's directory; LogDir gets the logs of its containerd,
	// kubelet and kube-proxy.
	Dir, LogDir string
	// Built is what package binaries made: the binaries and images.
	Built *binaries.Built
	// Kubeconfig is the kubeconfig of the kubelet and kube-proxy.
	Kubeconfig string
	// Procs gets the node's processes.
	Procs *proc.Group
	// Logf reports progress; nil discards it.
	Logf func(format string, args ...any)
}

func (n *Node) logf(format string, args ...any) {
	if n.cfg.Logf != nil {
		n.cfg.Logf(format, args...)
	}
}

// CgroupRootName is node i's cgroup root, in every cgroup v1 hierarchy.
func CgroupRootName(i int) string { return fmt.Sprintf("lameduck-e2e-node%d", i) }

// CgroupPath is node i's cgroup root in the given hierarchy.
func CgroupPath(hierarchy string, i int) string {
	return filepath.Join("/sys/fs/cgroup", hierarchy, CgroupRootName(i))
}

// Start starts the node's containerd (with the images loaded), kubelet
// and kube-proxy (nftables mode) in its network namespace. Wait for it
// with [Node.WaitReady].
func Start(ctx context.Context, cfg Config) (*Node, error) {
	ln := cfg.Net
	n := &Node{Name: ln.Name, Addr: ln.Addr, Net: ln, cfg: cfg, Dir: cfg.Dir}
	n.KubeletLog = filepath.Join(cfg.LogDir, "kubelet-"+n.Name+".log")
	n.PodLogsDir = filepath.Join(n.Dir, "pod-logs")
	n.sock = filepath.Join(n.Dir, "run", "containerd.sock")
	for _, d := range []string{"run", "pod-logs", "kubelet", "cni/net.d", "cni/ipam", "shield", "var-lib-kubelet"} {
		if err := os.MkdirAll(filepath.Join(n.Dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
	}
	if err := render(filepath.Join(n.Dir, "cni", "net.d", "10-lameduck.conflist"), cniConfig,
		map[string]string{"PodCIDR": ln.PodCIDR.String(), "Dir": n.Dir}); err != nil {
		return nil, err
	}
	if err := n.startContainerd(ctx); err != nil {
		return nil, err
	}
	if err := n.startKubelet(ctx); err != nil {
		return nil, err
	}
	if err := n.startKubeProxy(ProxyNFTables); err != nil {
		return nil, err
	}
	return n, nil
}

// WaitReady waits until the node is registered and Ready (its CNI network
// is up) and kube-proxy on it answers, and the default service account
// exists.
func (n *Node) WaitReady(ctx context.Context, api *kube.Client) error {
	start := time.Now()
	var last string
	if err := proc.Poll(ctx, 180*time.Second, func() error {
		var node corev1.Node
		if err := api.Get(ctx, "/api/v1/nodes/"+n.Name, &node); err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				last = c.Message
			}
		}
		return fmt.Errorf("node: %s not Ready: %s", n.Name, last)
	}); err != nil {
		return fmt.Errorf("node: %s (see %s): %w", n.Name, n.KubeletLog, err)
	}
	if err := n.waitKubeProxy(ctx); err != nil {
		return err
	}
	var obj struct{}
	if err := proc.Poll(ctx, 60*time.Second, func() error {
		return api.Get(ctx, "/api/v1/namespaces/default/serviceaccounts/default", &obj)
	}); err != nil {
		return fmt.Errorf("node: no default service account: %w", err)
	}
	n.logf("%s Ready in %v", n.Name, time.Since(start).Round(time.Second))
	return nil
}

// RemoveCgroups removes node i's cgroup roots (cgroupfs driver, v1),
// leaves first.
func RemoveCgroups(i int) error {
	var errs []error
	roots, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", CgroupRootName(i)))
	for _, h := range roots {
		var dirs []string
		_ = filepath.WalkDir(h, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("node: remove cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}
