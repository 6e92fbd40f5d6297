package rig

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// watchdogScript tears the rig down when the test process dies without
// calling Down (a panic, a -timeout, a SIGKILL): it waits on a pipe the
// test process holds open. Down writes "down" to it first, and the
// watchdog exits; an EOF without it means the test process is gone, and
// the watchdog does what Down would have, by the PID files of the rig's
// processes (package proc writes them) (the nodes' namespace holders among them, so that the
// namespaces go too), and removes the directory ($1). The remaining arguments are
// the host paths to remove.
const watchdogScript = `
read -r line
[ "$line" = down ] && exit 0
set +e
D=$1; shift
echo "test process gone: tearing down $D"
stop() { for f in "$D"/run/$1.pid; do [ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null; done; }
for p in 'kube-proxy-*' 'kubelet-*' kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$p"; done
sleep 5
for S in "$D"/node*/run/containerd.sock; do
  C="ctr --address $S --namespace k8s.io"
  for t in $($C tasks ls -q 2>/dev/null); do $C tasks kill -s SIGKILL "$t"; done
  sleep 2
  for t in $($C tasks ls -q 2>/dev/null); do $C tasks rm -f "$t"; done
done
stop 'containerd-*'
sleep 3
for f in "$D"/run/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
for f in "$D"/node*/containerd/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
  [ -f "$f" ] && grep -q containerd-shim "/proc/$(cat "$f")/cmdline" 2>/dev/null && kill -KILL "$(cat "$f")"
done
awk -v d="$D" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
for h in /sys/fs/cgroup/*/lameduck-e2e-node*; do [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null; done
for l in /var/log/containers/*.log; do [ -L "$l" ] && case "$(readlink "$l")" in "$D"/*) rm -f "$l";; esac; done
for p in "$@"; do rm -rf "$p"; done
rm -rf "$D"
echo "teardown done"
`

// watchdog is the process that runs watchdogScript.
type watchdog struct {
	cmd  *exec.Cmd
	pipe *os.File
}

// startWatchdog starts the watchdog in a session of its own, so that a
// signal to the test's process group does not reach it. Its log is
// written next to the rig's directory, which it removes.
func (r *Rig) startWatchdog() error {
	rd, wr, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("rig: watchdog: %w", err)
	}
	defer rd.Close()
	out, err := os.Create(r.Dir + ".watchdog.log")
	if err != nil {
		wr.Close()
		return fmt.Errorf("rig: watchdog: %w", err)
	}
	defer out.Close()
	args := append([]string{"-c", watchdogScript, "watchdog", r.Dir}, r.absent...)
	cmd := exec.Command("sh", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = rd, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		wr.Close()
		return fmt.Errorf("rig: watchdog: %w", err)
	}
	r.watchdog = &watchdog{cmd: cmd, pipe: wr}
	return nil
}

// stop tells the watchdog that Down runs, and waits for it to exit.
func (w *watchdog) stop() error {
	_, werr := w.pipe.WriteString("down\n")
	w.pipe.Close()
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	select {
	case err := <-done:
		if werr != nil {
			return fmt.Errorf("rig: watchdog: %w", werr)
		}
		if err != nil {
			return fmt.Errorf("rig: watchdog: %w", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		return fmt.Errorf("rig: watchdog did not exit")
	}
}
