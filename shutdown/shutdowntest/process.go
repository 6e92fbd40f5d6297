package shutdowntest

import (
	"os"
	"os/exec"
)

// Process is what [Kubelet.Terminate] acts on: a child process ([Command]),
// a service in the same process ([InProcess]), or any other implementation.
// Terminate calls Signal at most once, Kill at most once, and reads Exited
// and ExitCode; an implementation must allow these calls from any goroutine.
type Process interface {
	// Signal sends the stop signal. Terminate only logs its error.
	Signal(os.Signal) error
	// Kill ends the process at once, as SIGKILL does.
	Kill() error
	// Exited returns a channel that is closed when the process has exited.
	Exited() <-chan struct{}
	// ExitCode is the exit code; it is valid once Exited is closed, and -1
	// when the process was ended by a signal.
	ExitCode() int
}

// Command returns the [Process] of cmd, which must have been started
// (Command panics otherwise). A goroutine calls cmd.Wait and ends when it
// returns, so the caller must not call cmd.Wait itself. Signals go to
// cmd.Process only, like the kubelet's stop signal to PID 1: children of the
// process do not get them.
//
// cmd.Wait also waits for the goroutines that copy cmd's output when
// cmd.Stdout or cmd.Stderr is not an [*os.File]; if the process leaves
// children behind that hold those pipes, set cmd.WaitDelay, or Exited may
// never be closed.
func Command(cmd *exec.Cmd) Process {
	if cmd.Process == nil {
		panic("shutdowntest: Command needs a started *exec.Cmd")
	}
	c := &command{cmd: cmd, exited: make(chan struct{}), exitCode: -1}
	go c.wait()
	return c
}

type command struct {
	cmd      *exec.Cmd
	exited   chan struct{}
	exitCode int // written before exited is closed
}

func (c *command) wait() {
	_ = c.cmd.Wait() // a non-zero exit is reported by ExitCode, not as a failure
	if ps := c.cmd.ProcessState; ps != nil {
		c.exitCode = ps.ExitCode()
	}
	close(c.exited)
}

func (c *command) Signal(sig os.Signal) error { return c.cmd.Process.Signal(sig) }
func (c *command) Kill() error                { return c.cmd.Process.Kill() }
func (c *command) Exited() <-chan struct{}    { return c.exited }

func (c *command) ExitCode() int {
	select {
	case <-c.exited:
		return c.exitCode
	default:
		return -1
	}
}
