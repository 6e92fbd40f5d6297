package rig

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lameduck/lameduck/e2e/internal/node"
	"github.com/lameduck/lameduck/e2e/internal/proc"
)

// Down tears the rig down, going on after an error and returning them
// joined: it deletes the pods left in the API (so their containers stop),
// stops the kube-proxies, kubelets and the control plane by PID, then each
// node's containerd once its containers are removed, kills the shims of
// its containerds that are still running, unmounts what is mounted under
// its directory, removes the nodes' cgroups, network namespaces and the
// host paths that did not exist before [Up], and removes the directory
// (unless Config.Keep). It then checks that no process, listener, mount or
// cgroup of the rig is left and that the host's kernel tunables are
// unchanged; anything left is an error. Down may be called once, also
// after a failed Up.
func (r *Rig) Down() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var errs []error
	if r.watchdog != nil {
		errs = append(errs, r.watchdog.stop())
	}
	r.deletePods(ctx)
	// Reverse start order: kube-proxies, kubelets, scheduler, controller
	// manager, API server, etcd; the containerds last, once their
	// containers are gone.
	containerds := map[string]*proc.Proc{}
	if r.procs != nil {
		procs := r.procs.Procs()
		for i := len(procs) - 1; i >= 0; i-- {
			p := procs[i]
			if strings.HasPrefix(p.Name, "containerd-") {
				containerds[p.Name] = p
				continue
			}
			errs = append(errs, p.Stop(20*time.Second))
		}
	}
	for _, n := range r.Nodes {
		if p := containerds["containerd-"+n.Name]; p != nil && !p.Exited() {
			n.RemoveContainers(ctx)
		}
	}
	for _, p := range containerds {
		errs = append(errs, p.Stop(20*time.Second))
	}
	for _, n := range r.Nodes {
		n.KillShims()
	}
	errs = append(errs, r.unmountAll())
	for i := 1; i <= r.cfg.Nodes; i++ {
		errs = append(errs, node.RemoveCgroups(i))
	}
	if r.Lab != nil {
		errs = append(errs, r.Lab.Close())
	}
	errs = append(errs, r.removeHostPaths())
	if r.Dir != "" && !r.cfg.Keep {
		errs = append(errs, os.RemoveAll(r.Dir), os.Remove(r.Dir+".watchdog.log"))
	}
	errs = append(errs, r.checkClean())
	if r.API != nil {
		r.API.Close()
	}
	err := errors.Join(errs...)
	if err != nil {
		r.logf("teardown: %v", err)
	} else {
		r.logf("teardown clean")
	}
	return err
}

// deletePods deletes every pod in the default namespace at once and waits
// (at most 60 s) until the kubelets have stopped them.
func (r *Rig) deletePods(ctx context.Context) {
	if r.API == nil {
		return
	}
	var list struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
		} `json:"items"`
	}
	if err := r.API.Get(ctx, "/api/v1/namespaces/default/pods", &list); err != nil || len(list.Items) == 0 {
		return
	}
	zero := int64(0)
	for _, p := range list.Items {
		_ = r.API.Delete(ctx, "/api/v1/namespaces/default/pods/"+p.Metadata.Name, &zero)
	}
	_ = proc.Poll(ctx, 60*time.Second, func() error {
		for _, n := range r.Nodes {
			if n.Running(ctx) {
				return errors.New("containers still running")
			}
		}
		return nil
	})
}

// mountsUnder returns the mount points under dir (and dir itself), deepest
// first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		m := unescapeMount(fields[4])
		if m == dir || strings.HasPrefix(m, dir+"/") {
			mounts = append(mounts, m)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	return mounts, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountAll unmounts everything under the rig's directory: container
// root filesystems, sandbox shm, volumes and the kubelet root's bind mount.
func (r *Rig) unmountAll() error {
	if r.Dir == "" {
		return nil
	}
	mounts, err := mountsUnder(r.Dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		if err := syscall.Unmount(m, 0); err != nil {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
				errs = append(errs, fmt.Errorf("rig: unmount %s: %w", m, err))
			}
		}
	}
	return errors.Join(errs...)
}

// removeHostPaths removes the paths outside the rig's directory that did
// not exist before Up: the kubelet hard-codes
// /var/lib/kubelet/device-plugins and the /var/log/containers symlinks into
// podLogsDir, containerd 1.6 /run/containerd/{s,fifo}.
func (r *Rig) removeHostPaths() error {
	var errs []error
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if dst, err := os.Readlink(l); err == nil && r.Dir != "" && strings.HasPrefix(dst, r.Dir+"/") {
			errs = append(errs, os.Remove(l))
		}
	}
	for _, p := range r.absent {
		errs = append(errs, os.RemoveAll(p))
	}
	return errors.Join(errs...)
}

// checkClean reports what the rig left behind: processes whose command line
// names its directory, listeners on its ports, mounts under its directory,
// kubepods cgroups, and changed kernel tunables.
func (r *Rig) checkClean() error {
	var errs []error
	if r.Dir != "" {
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		self := fmt.Sprintf("/proc/%d/cmdline", os.Getpid())
		for _, p := range procs {
			b, err := os.ReadFile(p)
			if err == nil && p != self && strings.Contains(string(b), r.Dir) {
				errs = append(errs, fmt.Errorf("rig: process left: %s: %s", p, strings.ReplaceAll(string(b), "\x00", " ")))
			}
		}
		if mounts, _ := mountsUnder(r.Dir); len(mounts) > 0 {
			errs = append(errs, fmt.Errorf("rig: mounts left: %v", mounts))
		}
	}
	var ports []int
	if r.cp != nil {
		ports = r.cp.Ports
	}
	if ports := listening(ports); len(ports) > 0 {
		errs = append(errs, fmt.Errorf("rig: listeners left on 127.0.0.1 ports %v", ports))
	}
	for i := 1; i <= r.cfg.Nodes; i++ {
		if left, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", node.CgroupRootName(i))); len(left) > 0 {
			errs = append(errs, fmt.Errorf("rig: cgroups left: %v", left))
		}
	}
	if r.sysctls != nil {
		now, err := node.ReadSysctls()
		if err != nil {
			errs = append(errs, err)
		}
		for k, v := range r.sysctls {
			if now[k] != v {
				errs = append(errs, fmt.Errorf("rig: host sysctl %s changed from %s to %s", k, v, now[k]))
			}
		}
	}
	return errors.Join(errs...)
}

// listening returns those of ports that have a TCP listener, from
// /proc/net/tcp and tcp6.
func listening(ports []int) []int {
	want := map[int]bool{}
	for _, p := range ports {
		want[p] = true
	}
	var found []int
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 || fields[3] != "0A" { // 0A: TCP_LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && want[int(p)] {
				found = append(found, int(p))
			}
		}
	}
	return found
}
