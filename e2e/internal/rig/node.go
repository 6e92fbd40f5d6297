package rig

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lameduck/lameduck/e2e/internal/netlab"
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

	index     int
	sock      string // containerd's socket
	proxy     *proc  // kube-proxy
	proxyMode string // kube-proxy's --proxy-mode
}

// Proxy modes of kube-proxy the rig runs.
const (
	ProxyNFTables = "nftables"
	ProxyIPTables = "iptables"
)

// cgroupRootName is node i's cgroup root, in every cgroup v1 hierarchy.
func cgroupRootName(i int) string { return fmt.Sprintf("lameduck-e2e-node%d", i) }

func cgroupPath(hierarchy string, i int) string {
	return filepath.Join("/sys/fs/cgroup", hierarchy, cgroupRootName(i))
}

// startNode starts node i's containerd (with the images loaded), kubelet
// and kube-proxy in its network namespace ln.
func (r *Rig) startNode(ctx context.Context, i int, ln *netlab.Node) (*Node, error) {
	n := &Node{Name: ln.Name, Addr: ln.Addr, Net: ln, index: i, Dir: filepath.Join(r.Dir, ln.Name)}
	n.KubeletLog = filepath.Join(r.Dir, "logs", "kubelet-"+n.Name+".log")
	n.PodLogsDir = filepath.Join(n.Dir, "pod-logs")
	n.sock = filepath.Join(n.Dir, "run", "containerd.sock")
	for _, d := range []string{"run", "pod-logs", "kubelet", "cni/net.d", "cni/ipam", "shield", "var-lib-kubelet"} {
		if err := os.MkdirAll(filepath.Join(n.Dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("rig: %w", err)
		}
	}
	if err := render(filepath.Join(n.Dir, "cni", "net.d", "10-lameduck.conflist"), cniConfig,
		map[string]string{"PodCIDR": ln.PodCIDR.String(), "Dir": n.Dir}); err != nil {
		return nil, err
	}
	if err := r.startContainerd(ctx, n); err != nil {
		return nil, err
	}
	if err := r.startKubelet(ctx, n); err != nil {
		return nil, err
	}
	if err := r.startKubeProxy(n, ProxyNFTables); err != nil {
		return nil, err
	}
	return n, nil
}

// ctr runs containerd's ctr against the node's containerd, in the CRI's
// k8s.io namespace.
func (n *Node) ctr(ctx context.Context, args ...string) ([]byte, error) {
	argv := append([]string{"--address", n.sock, "--namespace", "k8s.io"}, args...)
	out, err := exec.CommandContext(ctx, "ctr", argv...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("rig: %s: ctr %s: %w: %s", n.Name, strings.Join(args, " "), err, tail(string(out), 1000))
	}
	return out, nil
}

func (r *Rig) startContainerd(ctx context.Context, n *Node) error {
	runc, err := exec.LookPath("runc")
	if err != nil {
		return fmt.Errorf("rig: %w", err)
	}
	cfgPath := filepath.Join(n.Dir, "containerd.toml")
	data := map[string]string{"Dir": n.Dir, "Sock": n.sock, "PauseRef": PauseImage, "Runc": runc, "CNIBin": r.built.CNIBin}
	if err := render(cfgPath, containerdConfig, data); err != nil {
		return err
	}
	log := filepath.Join(r.Dir, "logs", "containerd-"+n.Name+".log")
	if _, err := r.start("containerd-"+n.Name, log, nil, n.Net.Cmd("containerd", "--config", cfgPath)...); err != nil {
		return err
	}
	if err := poll(ctx, 30*time.Second, func() error { _, err := n.ctr(ctx, "version"); return err }); err != nil {
		return fmt.Errorf("rig: %s: containerd did not answer: %w", n.Name, err)
	}
	for _, f := range images {
		if _, err := n.ctr(ctx, "images", "import", filepath.Join(r.built.Dir, "images", f)); err != nil {
			return err
		}
	}
	r.logf("%s: containerd up; images loaded", n.Name)
	return nil
}

// makeCgroupRoot makes the node's cgroup root in every cgroup v1
// hierarchy, as the kubelet requires it to exist; cpuset's gets its
// parent's CPUs and memory nodes, without which no task may join it.
func makeCgroupRoot(i int) error {
	hs, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hs {
		if fi, err := os.Lstat(h); err != nil || !fi.IsDir() {
			continue // cpu and cpuacct are links to cpu,cpuacct
		}
		dir := filepath.Join(h, cgroupRootName(i))
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("rig: cgroup root: %w", err)
		}
		if filepath.Base(h) == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(h, f))
				if err != nil {
					return fmt.Errorf("rig: cgroup root: %w", err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					return fmt.Errorf("rig: cgroup root: %w", err)
				}
			}
		}
	}
	return nil
}

func (r *Rig) startKubelet(ctx context.Context, n *Node) error {
	if err := makeCgroupRoot(n.index); err != nil {
		return err
	}
	cfgPath := filepath.Join(n.Dir, "kubelet.yaml")
	data := map[string]any{"Dir": n.Dir, "Sock": n.sock, "Addr": n.Addr, "CgroupRoot": "/" + cgroupRootName(n.index)}
	if err := render(cfgPath, kubeletConfig, data); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.Dir, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		return fmt.Errorf("rig: %w", err)
	}
	// The kubelet's private mount namespace must not hide the volumes it
	// mounts (projected service account tokens, tmpfs emptyDirs) from
	// containerd: its root directory is made a shared mount, so mounts
	// under it propagate back to the namespace containerd runs in.
	root := filepath.Join(n.Dir, "kubelet")
	if err := syscall.Mount(root, root, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("rig: bind-mount %s: %w", root, err)
	}
	if err := syscall.Mount("", root, "", syscall.MS_SHARED|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("rig: make %s shared: %w", root, err)
	}
	// In the kubelet's own mount namespace:
	//   - the sysctl shield: files with the values it wants are
	//     bind-mounted over the /proc/sys files it would write, so the
	//     machine's tunables are never changed (protectKernelDefaults would
	//     make it refuse to start instead); /proc is made private first so
	//     that these mounts cannot propagate out;
	//   - /var/lib/kubelet, where it keeps its device plugin socket
	//     whatever its root directory, is the node's own, so that two
	//     kubelets do not share it.
	var script strings.Builder
	script.WriteString("set -e; mount --make-rprivate /proc; ")
	for _, name := range shieldedSysctls {
		f := filepath.Join(n.Dir, "shield", strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(f, []byte(shieldValues[name]+"\n"), 0o644); err != nil {
			return fmt.Errorf("rig: %w", err)
		}
		fmt.Fprintf(&script, "mount --bind %s /proc/sys/%s; ", f, name)
	}
	fmt.Fprintf(&script, "mkdir -p /var/lib/kubelet; mount --bind %s /var/lib/kubelet; ", filepath.Join(n.Dir, "var-lib-kubelet"))
	fmt.Fprintf(&script, "exec %s --config=%s --root-dir=%s --cert-dir=%s --hostname-override=%s --node-ip=%s --kubeconfig=%s --v=3",
		filepath.Join(r.built.K8sBin, "kubelet"), cfgPath, root, filepath.Join(root, "pki"), n.Name, n.Addr,
		filepath.Join(r.Dir, "cp", "node.kubeconfig"))
	argv := n.Net.Cmd("unshare", "-m", "--propagation", "unchanged", "sh", "-c", script.String())
	if _, err := r.start("kubelet-"+n.Name, n.KubeletLog, []string{"TZ=UTC"}, argv...); err != nil {
		return err
	}
	healthz := fmt.Sprintf("http://%s/healthz", netip.AddrPortFrom(n.Addr, 10248))
	if err := poll(ctx, 60*time.Second, func() error { return httpOK(ctx, healthz) }); err != nil {
		return fmt.Errorf("rig: %s: kubelet not healthy (see %s): %w", n.Name, n.KubeletLog, err)
	}
	return nil
}

// startKubeProxy starts kube-proxy in the given mode in the node's
// namespace. The three conntrack flags keep it from setting the machine's
// global conntrack tunables. At start it removes the rules the other modes
// left in the namespace (cmd/kube-proxy/app/server_linux.go,
// platformCleanup), so that a switch of mode leaves only the new mode's.
func (r *Rig) startKubeProxy(n *Node, mode string) error {
	argv := n.Net.Cmd(filepath.Join(r.built.K8sBin, "kube-proxy"),
		"--kubeconfig="+filepath.Join(r.Dir, "cp", "node.kubeconfig"),
		"--proxy-mode="+mode, "--hostname-override="+n.Name,
		"--cluster-cidr="+netlab.ClusterCIDR.String(),
		"--nodeport-addresses="+netip.PrefixFrom(n.Addr, 32).String(),
		"--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0s", "--conntrack-tcp-timeout-close-wait=0s",
		"--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address="+netip.AddrPortFrom(n.Addr, 10256).String(),
		"--v=2")
	p, err := r.start("kube-proxy-"+n.Name, filepath.Join(r.Dir, "logs", "kube-proxy-"+n.Name+".log"), nil, argv...)
	if err != nil {
		return err
	}
	n.proxy, n.proxyMode = p, mode
	return nil
}

// ProxyMode is the mode the node's kube-proxy runs in.
func (n *Node) ProxyMode() string { return n.proxyMode }

// SetProxyMode restarts every node's kube-proxy in mode (ProxyNFTables or
// ProxyIPTables) unless it already runs in it, and waits until each
// answers its healthz and has written its rules. The new kube-proxy
// removes the old mode's rules from the node's namespace; established
// connections keep their conntrack entries. Rules go only into the nodes'
// namespaces.
func (r *Rig) SetProxyMode(ctx context.Context, mode string) error {
	if mode != ProxyNFTables && mode != ProxyIPTables {
		return fmt.Errorf("rig: proxy mode %q: want %q or %q", mode, ProxyNFTables, ProxyIPTables)
	}
	for _, n := range r.Nodes {
		if n.proxyMode == mode {
			continue
		}
		if err := n.proxy.stop(20 * time.Second); err != nil {
			return err
		}
		if err := r.startKubeProxy(n, mode); err != nil {
			return err
		}
		if err := r.waitKubeProxy(ctx, n); err != nil {
			return err
		}
		// The rules of the mode, in the node's namespace: the chain of
		// Services in iptables' nat table, or the kube-proxy table.
		check := n.Net.Cmd("nft", "list", "table", "ip", "kube-proxy")
		if mode == ProxyIPTables {
			check = n.Net.Cmd("sh", "-c", "iptables-save -t nat | grep -q -- '-A KUBE-SERVICES'")
		}
		if err := poll(ctx, 30*time.Second, func() error {
			out, err := exec.CommandContext(ctx, check[0], check[1:]...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("rig: %s: no %s rules of kube-proxy: %v: %s", n.Name, mode, err, tail(string(out), 500))
			}
			return nil
		}); err != nil {
			return err
		}
		r.logf("%s: kube-proxy in %s mode", n.Name, mode)
	}
	return nil
}

// Rules returns the node's nftables rule set and iptables rules (from
// iptables-save, when installed), for tests that show which mode wrote
// what.
func (n *Node) Rules(ctx context.Context) (nft, ipt string, err error) {
	argv := n.Net.Cmd("nft", "list", "ruleset")
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return "", "", fmt.Errorf("rig: %s: nft list ruleset: %w: %s", n.Name, err, tail(string(out), 500))
	}
	nft = string(out)
	if _, err := exec.LookPath("iptables-save"); err == nil {
		argv := n.Net.Cmd("iptables-save")
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return "", "", fmt.Errorf("rig: %s: iptables-save: %w: %s", n.Name, err, tail(string(out), 500))
		}
		ipt = string(out)
	}
	return nft, ipt, nil
}

// waitNode waits until the node is registered and Ready (its CNI network
// is up) and kube-proxy on it answers, and the default service account
// exists.
func (r *Rig) waitNode(ctx context.Context, n *Node) error {
	start := time.Now()
	var last string
	if err := poll(ctx, 180*time.Second, func() error {
		var node corev1.Node
		if err := r.API.Get(ctx, "/api/v1/nodes/"+n.Name, &node); err != nil {
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
		return fmt.Errorf("rig: %s not Ready: %s", n.Name, last)
	}); err != nil {
		return fmt.Errorf("rig: %s (see %s): %w", n.Name, n.KubeletLog, err)
	}
	if err := r.waitKubeProxy(ctx, n); err != nil {
		return err
	}
	var obj struct{}
	if err := poll(ctx, 60*time.Second, func() error {
		return r.API.Get(ctx, "/api/v1/namespaces/default/serviceaccounts/default", &obj)
	}); err != nil {
		return fmt.Errorf("rig: no default service account: %w", err)
	}
	r.logf("%s Ready in %v", n.Name, time.Since(start).Round(time.Second))
	return nil
}

// waitKubeProxy waits until the node's kube-proxy answers its healthz,
// which it does once it has synced its rules.
func (r *Rig) waitKubeProxy(ctx context.Context, n *Node) error {
	healthz := fmt.Sprintf("http://%s/healthz", netip.AddrPortFrom(n.Addr, 10256))
	if err := poll(ctx, 60*time.Second, func() error { return httpOK(ctx, healthz) }); err != nil {
		return fmt.Errorf("rig: %s: kube-proxy not healthy: %w", n.Name, err)
	}
	return nil
}
