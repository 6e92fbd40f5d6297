package rig

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// proc is a process the rig started. Only these processes, by their PID,
// are ever signalled by the rig (and the shims of its own containerd, read
// from its state directory).
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait has returned
	err  error         // cmd.Wait's error, set before done is closed
}

// start starts argv in its own session with its output appended to
// logPath, and records it for Down.
func (r *Rig) start(name, logPath string, env []string, argv ...string) (*proc, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("rig: %s log: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	// A session of its own: a Ctrl-C on the test does not reach it before
	// the rig has stopped what runs inside it, in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("rig: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	r.procs = append(r.procs, p)
	r.writePID(p)
	r.logf("started %s pid %d", name, cmd.Process.Pid)
	return p, nil
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process and SIGKILL after timeout, and waits
// for it to exit. It is a no-op for a process that has exited.
func (p *proc) stop(timeout time.Duration) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("rig: stop %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("rig: kill %s: %w", p.name, err)
	}
	<-p.done
	return fmt.Errorf("rig: %s did not stop within %v of SIGTERM; killed", p.name, timeout)
}
