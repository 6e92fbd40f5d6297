package shutdown_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
)

// The tests in this file re-execute the test binary as a child process
// that runs a real Sequence subscribed to real signals.

const childEnv = "SHUTDOWN_TEST_CHILD"

// childReport is what a child prints on its last line, for the parent.
type childReport struct {
	Source    string
	DelayMS   int64
	DrainAtMS int64 // DrainStarted − Triggered
	Steps     []string
	StepsAtMS []int64
	Err       string
}

// childMain runs the child: it prints "admin ADDR" and "ready", then
// waits for the sequence and prints a JSON report. Mode "hang" adds a step
// that never returns and prints "hanging" when it starts; mode "bare" has
// no delay and no steps.
func childMain(mode string) int {
	if mode == "deletion" {
		return deletionChild()
	}
	delay := 500 * time.Millisecond
	if mode == "bare" {
		delay = 0
	}
	seq, err := shutdown.New(
		shutdown.WithPropagationDelay(delay),
		shutdown.WithGracePeriod(20*time.Second),
		shutdown.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	admin := &http.Server{Handler: seq.PrestopHandler()}
	go func() { _ = admin.Serve(ln) }()
	if mode != "bare" {
		for _, name := range []string{"servers", "db", "files"} {
			seq.AfterDrain(name, func(context.Context) error { return nil })
		}
	}
	if mode == "hang" {
		seq.AfterDrain("hang", func(context.Context) error { fmt.Println("hanging"); select {} })
	}
	fmt.Printf("admin %s\nready\n", ln.Addr())
	err = seq.Wait()
	return reportTo(os.Stdout, seq.Timeline(), err)
}

// reportTo prints a child's last line, its report of the sequence's run
// tl and of Wait's err, and returns the child's exit code: 1 when err is
// not nil.
func reportTo(w io.Writer, tl shutdown.Timeline, err error) int {
	rep := childReport{Source: tl.Source, DelayMS: tl.Delay.Milliseconds(), DrainAtMS: tl.DrainStartedAt.Sub(tl.TriggeredAt).Milliseconds()}
	for _, st := range tl.Steps {
		rep.Steps = append(rep.Steps, st.Name)
		rep.StepsAtMS = append(rep.StepsAtMS, st.StartedAt.Sub(tl.TriggeredAt).Milliseconds())
	}
	if err != nil {
		rep.Err = err.Error()
	}
	b, _ := json.Marshal(rep)
	fmt.Fprintf(w, "report %s\n", b)
	if err != nil {
		return 1
	}
	return 0
}

// child is a running child process and its stdout, line by line.
type child struct {
	cmd   *exec.Cmd
	lines chan string
	admin string
}

func startChild(t *testing.T, mode string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// Without atexit_sleep_ms=0 a child built with -race sleeps 1 s at exit.
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, lines: make(chan string, 16)}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	c.admin = strings.TrimPrefix(c.expect(t, "admin "), "admin ")
	c.expect(t, "ready")
	return c
}

// expect returns the next line, which must start with prefix.
func (c *child) expect(t *testing.T, prefix string) string {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		require.True(t, ok, "child exited before printing %q", prefix)
		require.True(t, strings.HasPrefix(line, prefix), "got %q, want a line starting %q", line, prefix)
		return line
	case <-time.After(wait):
		t.Fatalf("child did not print %q", prefix)
		return ""
	}
}

func (c *child) report(t *testing.T) childReport {
	t.Helper()
	var rep childReport
	line := c.expect(t, "report ")
	require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(line, "report ")), &rep))
	return rep
}

func (c *child) exitCode(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(wait):
		t.Fatal("child did not exit")
		return -1
	}
}

func TestProcessSignals(t *testing.T) {
	tests := []struct {
		sig       syscall.Signal
		source    string
		wantDelay time.Duration
	}{
		{syscall.SIGTERM, "SIGTERM", 500 * time.Millisecond},
		{syscall.SIGINT, "SIGINT", 0},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			t.Parallel()
			c := startChild(t, "plain")
			require.NoError(t, c.cmd.Process.Signal(tt.sig))
			rep := c.report(t)
			assert.Equal(t, 0, c.exitCode(t))
			assert.Empty(t, rep.Err)
			assert.Equal(t, tt.source, rep.Source)
			assert.Equal(t, tt.wantDelay.Milliseconds(), rep.DelayMS)
			assert.GreaterOrEqual(t, rep.DrainAtMS, tt.wantDelay.Milliseconds())
			assert.Equal(t, []string{"servers", "db", "files"}, rep.Steps)
			assert.IsNonDecreasing(t, rep.StepsAtMS)
		})
	}
}

// TestProcessPrestopThenSIGTERM follows the kubelet: the preStop hook
// returns when the delay is over, then SIGTERM arrives; the delay is spent
// once, counted from the hook.
func TestProcessPrestopThenSIGTERM(t *testing.T) {
	t.Parallel() // real time: overlaps with the other real-time tests
	c := startChild(t, "plain")
	start := time.Now()
	resp, err := http.Get("http://" + c.admin + "/prestop")
	require.NoError(t, err)
	_ = resp.Body.Close()
	hook := time.Since(start)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.GreaterOrEqual(t, hook, 500*time.Millisecond, "the hook returns when the delay is over")
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))

	rep := c.report(t)
	assert.Equal(t, 0, c.exitCode(t))
	assert.Equal(t, "prestop", rep.Source)
	// Draining starts when the hook's delay ends, not a delay after SIGTERM:
	// the delay was spent once.
	assert.Less(t, time.Duration(rep.DrainAtMS)*time.Millisecond, hook+400*time.Millisecond)
	assert.Equal(t, []string{"servers", "db", "files"}, rep.Steps)
}

func TestProcessSecondSIGTERMForcesExit(t *testing.T) {
	t.Parallel() // real time: overlaps with the other real-time tests
	c := startChild(t, "hang")
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	c.expect(t, "hanging")
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 1, c.exitCode(t))
}

// BenchmarkProcessSIGTERMToExit measures the time from SIGTERM to the exit
// of a child with no delay and no steps. Run with -benchtime=20x.
func BenchmarkProcessSIGTERMToExit(b *testing.B) {
	for range b.N {
		b.StopTimer()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=bare")
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() && sc.Text() != "ready" {
		}
		b.StartTimer()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
	}
}
