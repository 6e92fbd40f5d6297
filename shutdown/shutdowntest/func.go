package shutdowntest

import (
	"os"
	"sync"
)

// Func returns a [Process] for a server that runs in the test's own process:
// Signal calls signal (which may be nil: the signal is then dropped), and the
// process has exited when exited is closed, with exit code 0. signal should
// start the shutdown and return, like a signal handler: while it runs,
// [Kubelet.Terminate] cannot stop waiting, even when the grace period is
// spent.
//
// Nothing can be killed inside a process, so Kill only makes [Process.Exited]
// close without waiting any longer for exited, with exit code -1: a test
// sees Report.Killed and knows that its server overran the grace period;
// stopping that server is left to the test. Kill may be called more than
// once.
//
// A goroutine started by the first call to Exited ends when exited is closed
// or Kill is called, whichever comes first; [Kubelet.Terminate] always waits
// for one of the two.
func Func(signal func(os.Signal) error, exited <-chan struct{}) Process {
	return &funcProcess{
		signal: signal,
		exited: exited,
		kill:   make(chan struct{}),
		done:   make(chan struct{}),
	}
}

type funcProcess struct {
	signal   func(os.Signal) error
	exited   <-chan struct{}
	kill     chan struct{} // closed by Kill
	killOnce sync.Once
	wait     sync.Once // starts the goroutine that closes done
	done     chan struct{}
	killed   bool // written before done is closed
}

func (f *funcProcess) Signal(sig os.Signal) error {
	if f.signal == nil {
		return nil
	}
	return f.signal(sig)
}

func (f *funcProcess) Kill() error {
	f.killOnce.Do(func() { close(f.kill) })
	return nil
}

func (f *funcProcess) Exited() <-chan struct{} {
	f.wait.Do(func() { go f.waitExit() })
	return f.done
}

func (f *funcProcess) waitExit() {
	select {
	case <-f.exited:
	case <-f.kill:
		f.killed = true
	}
	close(f.done)
}

func (f *funcProcess) ExitCode() int {
	select {
	case <-f.done:
		if f.killed {
			return -1
		}
		return 0
	default:
		return -1
	}
}
