package node

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lameduck/lameduck/e2e/internal/proc"
)

// makeCgroupRoot makes the node's cgroup root in every cgroup v1
// hierarchy, as the kubelet requires it to exist; cpuset's gets its
// parent's CPUs and memory nodes, without which no task may join it.
func makeCgroupRoot(i int) error {
	hs, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hs {
		if fi, err := os.Lstat(h); err != nil || !fi.IsDir() {
			continue // cpu and cpuacct are links to cpu,cpuacct
		}
		dir := filepath.Join(h, CgroupRootName(i))
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("node: cgroup root: %w", err)
		}
		if filepath.Base(h) == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(h, f))
				if err != nil {
					return fmt.Errorf("node: cgroup root: %w", err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					return fmt.Errorf("node: cgroup root: %w", err)
				}
			}
		}
	}
	return nil
}

func (n *Node) startKubelet(ctx context.Context) error {
	if err := makeCgroupRoot(n.cfg.Index); err != nil {
		return err
	}
	cfgPath := filepath.Join(n.Dir, "kubelet.yaml")
	data := map[string]any{"Dir": n.Dir, "Sock": n.sock, "Addr": n.Addr, "CgroupRoot": "/" + CgroupRootName(n.cfg.Index)}
	if err := render(cfgPath, kubeletConfig, data); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.Dir, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	// The kubelet's private mount namespace must not hide the volumes it
	// mounts (projected service account tokens, tmpfs emptyDirs) from
	// containerd: its root directory is made a shared mount, so mounts
	// under it propagate back to the namespace containerd runs in.
	root := filepath.Join(n.Dir, "kubelet")
	if err := syscall.Mount(root, root, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("node: bind-mount %s: %w", root, err)
	}
	if err := syscall.Mount("", root, "", syscall.MS_SHARED|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("node: make %s shared: %w", root, err)
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
			return fmt.Errorf("node: %w", err)
		}
		fmt.Fprintf(&script, "mount --bind %s /proc/sys/%s; ", f, name)
	}
	fmt.Fprintf(&script, "mkdir -p /var/lib/kubelet; mount --bind %s /var/lib/kubelet; ", filepath.Join(n.Dir, "var-lib-kubelet"))
	fmt.Fprintf(&script, "exec %s --config=%s --root-dir=%s --cert-dir=%s --hostname-override=%s --node-ip=%s --kubeconfig=%s --v=3",
		filepath.Join(n.cfg.Built.K8sBin, "kubelet"), cfgPath, root, filepath.Join(root, "pki"), n.Name, n.Addr,
		n.cfg.Kubeconfig)
	argv := n.Net.Cmd("unshare", "-m", "--propagation", "unchanged", "sh", "-c", script.String())
	if _, err := n.cfg.Procs.Start("kubelet-"+n.Name, n.KubeletLog, []string{"TZ=UTC"}, argv...); err != nil {
		return err
	}
	healthz := fmt.Sprintf("http://%s/healthz", netip.AddrPortFrom(n.Addr, 10248))
	if err := proc.Poll(ctx, 60*time.Second, func() error { return proc.HTTPOK(ctx, healthz) }); err != nil {
		return fmt.Errorf("node: %s: kubelet not healthy (see %s): %w", n.Name, n.KubeletLog, err)
	}
	return nil
}
