package shutdowntest

import (
	"os"
	"sync"

	"github.com/lameduck/lameduck/shutdown"
	"github.com/lameduck/lameduck/shutdown/internal/hook"
)

// InProcess returns a [Process] that runs run in a goroutine of the test's
// own process, at once: run stands for a program's main, and is given the
// [shutdown.Option] to pass to the one [shutdown.New] it calls. With that
// option the sequence takes its signals from the Process instead of from
// the operating system, and a forced exit (a second signal, or the
// sequence not finished by its deadline) is recorded instead of ending
// the test binary.
//
// Signal delivers the signal to that sequence, whichever signals
// [shutdown.WithSignals] names; a signal sent before the sequence is made
// waits for it. After the process has exited, Signal returns
// os.ErrProcessDone, as [os.Process.Signal] does. The process has exited
// (Exited is closed) at the first of: run returns, with exit code 0 if it
// returned nil and 1 otherwise, as a main that exits 1 on an error; the
// sequence forces the exit, with exit code 1, while run goes on until its
// Wait returns [shutdown.ErrForcedExit]; Kill, with exit code -1.
//
// Nothing can be killed inside a process: Kill only makes Exited close
// without waiting any longer for run, and a test sees Report.Killed and
// knows that its server overran the grace period. run then goes on in its
// goroutine; stopping it is left to the test. Kill may be called more than
// once. InProcess panics if run is nil.
func InProcess(run func(shutdown.Option) error) Process {
	if run == nil {
		panic("shutdowntest: InProcess(nil): pass the function that builds and runs the service")
	}
	p := &inProcess{signals: make(chan os.Signal, 8), exited: make(chan struct{}), code: -1}
	opt := hook.Option(hook.Settings{Signals: p.signals, Exit: func(code int) { p.exit(code) }}).(shutdown.Option)
	go func() {
		code := 0
		if run(opt) != nil {
			code = 1
		}
		p.exit(code)
	}()
	return p
}

type inProcess struct {
	signals chan os.Signal
	mu      sync.Mutex // guards code and the closing of exited
	exited  chan struct{}
	code    int
}

// exit records the first way the process ended.
func (p *inProcess) exit(code int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.exited:
	default:
		p.code = code
		close(p.exited)
	}
}

func (p *inProcess) Signal(sig os.Signal) error {
	select {
	case <-p.exited:
		return os.ErrProcessDone
	default:
	}
	select {
	case p.signals <- sig:
	default: // more signals than a sequence reads before it ends: as lost as the kernel's coalesced ones
	}
	return nil
}

func (p *inProcess) Kill() error {
	p.exit(-1)
	return nil
}

func (p *inProcess) Exited() <-chan struct{} { return p.exited }

func (p *inProcess) ExitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code
}
