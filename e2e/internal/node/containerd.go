package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lameduck/lameduck/e2e/internal/binaries"
	"github.com/lameduck/lameduck/e2e/internal/proc"
)

// ctr runs containerd's ctr against the node's containerd, in the CRI's
// k8s.io namespace.
func (n *Node) ctr(ctx context.Context, args ...string) ([]byte, error) {
	argv := append([]string{"--address", n.sock, "--namespace", "k8s.io"}, args...)
	out, err := exec.CommandContext(ctx, "ctr", argv...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("node: %s: ctr %s: %w: %s", n.Name, strings.Join(args, " "), err, proc.Tail(string(out), 1000))
	}
	return out, nil
}

func (n *Node) startContainerd(ctx context.Context) error {
	runc, err := exec.LookPath("runc")
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	cfgPath := filepath.Join(n.Dir, "containerd.toml")
	data := map[string]string{"Dir": n.Dir, "Sock": n.sock, "PauseRef": binaries.PauseImage, "Runc": runc, "CNIBin": n.cfg.Built.CNIBin}
	if err := render(cfgPath, containerdConfig, data); err != nil {
		return err
	}
	log := filepath.Join(n.cfg.LogDir, "containerd-"+n.Name+".log")
	if _, err := n.cfg.Procs.Start("containerd-"+n.Name, log, nil, n.Net.Cmd("containerd", "--config", cfgPath)...); err != nil {
		return err
	}
	if err := proc.Poll(ctx, 30*time.Second, func() error { _, err := n.ctr(ctx, "version"); return err }); err != nil {
		return fmt.Errorf("node: %s: containerd did not answer: %w", n.Name, err)
	}
	for _, f := range binaries.Images {
		if _, err := n.ctr(ctx, "images", "import", filepath.Join(n.cfg.Built.ImagesDir(), f)); err != nil {
			return err
		}
	}
	n.logf("%s: containerd up; images loaded", n.Name)
	return nil
}

// Running reports whether the node's containerd still runs a container.
func (n *Node) Running(ctx context.Context) bool {
	out, err := n.ctr(ctx, "tasks", "ls", "-q")
	return err == nil && len(strings.TrimSpace(string(out))) > 0
}

// RemoveContainers kills and removes every task and container left in the
// node's containerd (the kubelet stops pods' containers, not their
// records).
func (n *Node) RemoveContainers(ctx context.Context) {
	out, _ := n.ctr(ctx, "tasks", "ls", "-q")
	tasks := strings.Fields(string(out))
	for _, t := range tasks {
		_, _ = n.ctr(ctx, "tasks", "kill", "-s", "SIGKILL", t)
	}
	for _, t := range tasks {
		_ = proc.Poll(ctx, 5*time.Second, func() error { _, err := n.ctr(ctx, "tasks", "rm", "-f", t); return err })
	}
	out, _ = n.ctr(ctx, "containers", "ls", "-q")
	for _, c := range strings.Fields(string(out)) {
		_, _ = n.ctr(ctx, "containers", "rm", c)
	}
}

// KillShims kills the shims of the node's containerd that outlived it;
// their PIDs are read from its state directory, and checked to be shims.
func (n *Node) KillShims() {
	files, _ := filepath.Glob(filepath.Join(n.Dir, "containerd", "state", "io.containerd.runtime.v2.task", "*", "*", "shim.pid"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !strings.Contains(string(cmdline), "containerd-shim") {
			continue
		}
		n.logf("killing leftover shim %d", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
