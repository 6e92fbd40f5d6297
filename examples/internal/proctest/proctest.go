// Package proctest runs the lameduck example services as child processes in
// tests: it builds a service's binary, starts it on loopback with fresh
// ports and a fresh data directory, and learns the ports from the
// "listening addr=... admin=..." line the service writes to stderr. The
// returned [Proc] is a shutdowntest.Process, so a test can stop it with a
// signal directly or through the kubelet simulator of package
// shutdown/shutdowntest.
package proctest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/examples/internal/selfsigned"
	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

// Bounds of the waits of [Start] and of the termination tests: generous,
// for a busy 2-core CI machine.
const (
	StartTimeout = 30 * time.Second // for the listening line
	ExitTimeout  = 30 * time.Second // for a signalled process to exit
	LoadTimeout  = 60 * time.Second // for a bounded load to warm up or end
)

// Parameters of the termination tests: a short grace period and delay.
// Their clients stop sending new requests LBCatchUp after SIGTERM, as load
// balancers do once they have seen readiness fail, well before the delay
// is over and the drain closes the listener.
const (
	Grace     = 4 * time.Second
	Delay     = time.Second
	LBCatchUp = Delay / 4
)

// Flags returns the -grace and -delay flags for [Grace] and [Delay],
// followed by extra.
func Flags(extra ...string) []string {
	return append([]string{"-grace", Grace.String(), "-delay", Delay.String()}, extra...)
}

// Build compiles the main package in dir (a path relative to the test's
// working directory, such as ".") and returns the binary's path. It fails
// the test if the build fails. The binary is built once per test process
// and shared by the tests that ask for the same dir, into a temporary
// directory that [RemoveBuilds] removes: call it from TestMain, for
// example as goleak.VerifyTestMain's goleak.Cleanup.
func Build(t testing.TB, dir string) string {
	t.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if bin, ok := builds.bins[dir]; ok {
		return bin
	}
	if builds.dir == "" {
		d, err := os.MkdirTemp("", "proctest-")
		require.NoError(t, err)
		builds.dir = d
	}
	bin := filepath.Join(builds.dir, fmt.Sprintf("svc%d", len(builds.bins)))
	out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput()
	require.NoError(t, err, "go build %s:\n%s", dir, out)
	if builds.bins == nil {
		builds.bins = map[string]string{}
	}
	builds.bins[dir] = bin
	return bin
}

// RemoveBuilds removes the binaries [Build] made. Call it once the tests
// that use them have ended.
func RemoveBuilds() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
	builds.dir, builds.bins = "", nil
}

// builds holds the binaries Build made in this process.
var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string // by Build's dir argument
}

// Proc is a running service.
type Proc struct {
	shutdowntest.Process
	Addr    string // traffic address, HOST:PORT
	Admin   string // admin address, HOST:PORT
	DataDir string // the -data directory

	stderr *lines
}

// Start runs bin with "-addr 127.0.0.1:0 -admin-addr 127.0.0.1:0 -data DIR"
// (DIR a new temporary directory) followed by args, so args may override
// them, and waits for the listening line. The environment is the test's,
// less the variables the services read, so that the flags decide. The
// process is killed at the end of the test if it is still running.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	return start(t, bin, nil, args...)
}

// StartPID1 is [Start] with the process as PID 1 of a new PID namespace,
// as the entry point of a container is. It skips the test where creating
// the namespace is not permitted (it needs CAP_SYS_ADMIN).
func StartPID1(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	probe := exec.Command("/bin/true")
	probe.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := probe.Run(); err != nil {
		t.Skipf("cannot create a PID namespace: %v", err)
	}
	return start(t, bin, &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}, args...)
}

func start(t testing.TB, bin string, attr *syscall.SysProcAttr, args ...string) *Proc {
	t.Helper()
	p := &Proc{DataDir: t.TempDir(), stderr: &lines{listening: make(chan string, 1)}}
	cmd := exec.Command(bin, append([]string{
		"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-data", p.DataDir,
	}, args...)...)
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = attr
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	p.Process = shutdowntest.Command(cmd)
	t.Cleanup(func() {
		select {
		case <-p.Exited():
		default:
			_ = p.Kill()
			<-p.Exited()
		}
		if t.Failed() {
			t.Logf("stderr of %s:\n%s", bin, p.Stderr())
		}
	})
	select {
	case line := <-p.stderr.listening:
		for _, f := range strings.Fields(line)[1:] {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "addr":
				p.Addr = v
			case "admin":
				p.Admin = v
			}
		}
	case <-p.Exited():
		t.Fatalf("%s exited with code %d before listening:\n%s", bin, p.ExitCode(), p.Stderr())
	case <-time.After(StartTimeout):
		t.Fatalf("%s did not write its listening line within %v:\n%s", bin, StartTimeout, p.Stderr())
	}
	require.NotEmpty(t, p.Addr)
	require.NotEmpty(t, p.Admin)
	return p
}

// Cert writes a self-signed certificate for loopback into a temporary
// directory of the test (see package selfsigned).
func Cert(t testing.TB) selfsigned.Cert {
	t.Helper()
	c, err := selfsigned.Write(t.TempDir())
	require.NoError(t, err)
	return c
}

// TLSFlags returns the -tls-cert and -tls-key flags for c, followed by
// extra.
func TLSFlags(c selfsigned.Cert, extra ...string) []string {
	return append([]string{"-tls-cert", c.CertFile, "-tls-key", c.KeyFile}, extra...)
}

// WaitExit waits up to timeout for the process to exit and returns its exit
// code (-1 if a signal ended it). It fails the test on timeout.
func (p *Proc) WaitExit(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.Exited():
		return p.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("process did not exit within %v:\n%s", timeout, p.Stderr())
		return 0
	}
}

// AssertDiedOfSignal checks that code, from [Proc.WaitExit] after a
// SIGTERM, is how a Go process ends that does not handle the signal. Not
// as PID 1 the signal kills it, which exec reports as -1 (a shell as 143).
// As PID 1 of its PID namespace, the kubelet's case (see [StartPID1]), it
// exits 2: the Go runtime re-raises an unhandled SIGTERM with the default
// action, which the kernel does not apply to a namespace's init
// (pid_namespaces(7)), and then exits 2 (runtime/signal_unix.go,
// dieFromSignal). Either way it is not 0 or 1, the codes of a service that
// ran its exit path.
func AssertDiedOfSignal(t testing.TB, code int, pid1 bool) bool {
	t.Helper()
	want, why := -1, "the unhandled signal killed the process"
	if pid1 {
		want, why = 2, "as PID 1, the kernel drops the signal the Go runtime re-raises and it exits 2"
	}
	if code != want {
		t.Errorf("exit code %d, want %d: %s", code, want, why)
		return false
	}
	return true
}

// Stderr returns what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "ADDR", "ADMIN_ADDR", "DATA_DIR", "STRATEGY",
			"SHUTDOWN_GRACE_PERIOD", "SHUTDOWN_PROPAGATION_DELAY",
			"SHUTDOWN_SAFETY_MARGIN", "SHUTDOWN_PRESTOP_TOKEN",
			"TLS_CERT_FILE", "TLS_KEY_FILE":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// lines collects stderr and hands over the first listening line.
type lines struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	scanned   int // bytes of buf already split into lines
	listening chan string
	found     bool
}

func (l *lines) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(b)
	for !l.found {
		rest := l.buf.Bytes()[l.scanned:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		l.scanned += i + 1
		if line := string(rest[:i]); strings.HasPrefix(line, "listening ") {
			l.found = true
			l.listening <- line
		}
	}
	return len(b), nil
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
