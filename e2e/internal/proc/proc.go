// Package proc starts and stops the processes the rig runs (etcd, the
// control plane, each node's containerd, kubelet and kube-proxy), and
// waits for them to answer. Only these processes, by their PID, are ever
// signalled: each is started in a session of its own, its PID is written
// to a file the rig's watchdog reads, and its output is appended to a log.
package proc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Group is the processes of one rig. Create it with [NewGroup].
type Group struct {
	runDir string
	logf   func(string, ...any)
	procs  []*Proc
}

// NewGroup returns a Group that writes each process's PID to
// runDir/NAME.pid and reports each start to logf (nil: nowhere).
func NewGroup(runDir string, logf func(string, ...any)) *Group {
	return &Group{runDir: runDir, logf: logf}
}

// Procs returns the processes started so far, in start order.
func (g *Group) Procs() []*Proc { return g.procs }

// Proc is a process of a [Group].
type Proc struct {
	// Name is the name it was started with, also the name of its PID file.
	Name string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait has returned
}

// Start starts argv in its own session with its output appended to
// logPath and env added to the environment, and records it.
func (g *Group) Start(name, logPath string, env []string, argv ...string) (*Proc, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("proc: %s log: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	// A session of its own: a Ctrl-C on the test does not reach it before
	// the rig has stopped what runs inside it, in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("proc: start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	g.procs = append(g.procs, p)
	_ = os.WriteFile(filepath.Join(g.runDir, name+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	if g.logf != nil {
		g.logf("started %s pid %d", name, cmd.Process.Pid)
	}
	return p, nil
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM to the process and SIGKILL after timeout, and waits
// for it to exit. It is a no-op for a process that has exited. A process
// that had to be killed is an error.
func (p *Proc) Stop(timeout time.Duration) error {
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("proc: stop %s: %w", p.Name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("proc: kill %s: %w", p.Name, err)
	}
	<-p.done
	return fmt.Errorf("proc: %s did not stop within %v of SIGTERM; killed", p.Name, timeout)
}

// Poll calls f every 200 ms until it returns nil, and returns its last
// error once timeout has passed or ctx is done.
func Poll(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// HTTPOK returns nil when a GET of url answers 200.
func HTTPOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("proc: %s: %s", url, resp.Status)
	}
	return nil
}

// Tail returns the last n bytes of s, marked as cut when they are not all
// of it: the end of a command's output, for an error.
func Tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
