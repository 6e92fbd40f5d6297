package shutdowntest_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

// waitBound bounds every wait for something that should take milliseconds.
const waitBound = 30 * time.Second

// killSlack is how long after SIGKILL the process may be seen to exit.
const killSlack = time.Second

// startChild starts the test binary as a child configured by env (see
// TestMain) and returns its process and its /prestop address ("-" if none).
// The child is killed at the end of the test if it is still running.
func startChild(t *testing.T, env ...string) (shutdowntest.Process, string) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(childEnv(), env...)
	cmd.Stdout, cmd.Stderr = w, os.Stderr // files: no copying goroutines
	err = cmd.Start()
	w.Close()
	require.NoError(t, err)
	p := shutdowntest.Command(cmd)
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // fails when it has exited, as it should have
		select {
		case <-p.Exited():
		case <-time.After(waitBound):
			t.Errorf("child %d did not exit", cmd.Process.Pid)
		}
	})
	require.NoError(t, r.SetReadDeadline(time.Now().Add(waitBound)))
	line, err := bufio.NewReader(r).ReadString('\n')
	require.NoError(t, err, "child did not get ready")
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	require.True(t, ok, "child said %q", line)
	return p, addr
}

// childEnv is the environment of a child. With -race, the child would
// otherwise sleep 1s at exit (GORACE atexit_sleep_ms).
func childEnv() []string {
	return append(os.Environ(), "SHUTDOWNTEST_CHILD=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
}

// remaining is the grace period the kubelet leaves after the hook in r.
func remaining(grace time.Duration, r *shutdowntest.Report) time.Duration {
	return max(grace-r.PreStopDuration.Truncate(time.Second), shutdowntest.MinGraceAfterSignal)
}

func TestTerminateCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     []string
		grace   time.Duration
		preStop bool // send the hook to the child's /prestop
		check   func(t *testing.T, grace time.Duration, r *shutdowntest.Report)
	}{{
		name:  "exits on SIGTERM",
		env:   []string{"SHUTDOWNTEST_EXIT_CODE=3"},
		grace: 4 * time.Second,
		check: func(t *testing.T, grace time.Duration, r *shutdowntest.Report) {
			assert.False(t, r.Killed)
			assert.Equal(t, 3, r.ExitCode)
			assert.Equal(t, 3, r.ContainerExitCode)
			assert.Positive(t, r.SignalAfter)
			assert.Less(t, r.ExitAfter, grace)
			assert.Zero(t, r.PreStopDuration)
			assert.Zero(t, r.PreStopStatus)
		},
	}, {
		name:  "dies of an unhandled SIGTERM",
		env:   []string{"SHUTDOWNTEST_ON_TERM=die"},
		grace: 4 * time.Second,
		check: func(t *testing.T, grace time.Duration, r *shutdowntest.Report) {
			assert.False(t, r.Killed)
			assert.Equal(t, -1, r.ExitCode)
			assert.Equal(t, 143, r.ContainerExitCode, "128 + SIGTERM")
			assert.Less(t, r.ExitAfter, grace)
		},
	}, {
		name:  "ignores SIGTERM and is killed when the grace period is spent",
		env:   []string{"SHUTDOWNTEST_ON_TERM=ignore"},
		grace: 2 * time.Second,
		check: func(t *testing.T, grace time.Duration, r *shutdowntest.Report) {
			assert.True(t, r.Killed)
			assert.Equal(t, -1, r.ExitCode)
			assert.Equal(t, 137, r.ContainerExitCode)
			assert.GreaterOrEqual(t, r.ExitAfter-r.SignalAfter, grace)
			assert.Less(t, r.ExitAfter-r.SignalAfter, grace+killSlack)
		},
	}, {
		name:    "preStop time rounded down to whole seconds is subtracted",
		env:     []string{"SHUTDOWNTEST_ON_TERM=ignore", "SHUTDOWNTEST_PRESTOP_SLEEP=1200ms"},
		grace:   3500 * time.Millisecond, // need not be whole seconds
		preStop: true,
		check: func(t *testing.T, grace time.Duration, r *shutdowntest.Report) {
			assert.Equal(t, 200, r.PreStopStatus)
			assert.NoError(t, r.PreStopErr)
			assert.False(t, r.PreStopAbandoned)
			assert.GreaterOrEqual(t, r.PreStopDuration, 1200*time.Millisecond)
			assert.GreaterOrEqual(t, r.SignalAfter, r.PreStopDuration)
			assert.True(t, r.Killed)
			want := remaining(grace, r) // 2.5s (not 2.3s) unless the hook took 2s or more
			assert.GreaterOrEqual(t, r.ExitAfter-r.SignalAfter, want)
			assert.Less(t, r.ExitAfter-r.SignalAfter, want+killSlack)
		},
	}, {
		name:    "preStop longer than the grace period is abandoned",
		env:     []string{"SHUTDOWNTEST_PRESTOP_SLEEP=1m"},
		grace:   time.Second,
		preStop: true,
		check: func(t *testing.T, grace time.Duration, r *shutdowntest.Report) {
			assert.True(t, r.PreStopAbandoned)
			assert.Zero(t, r.PreStopStatus)
			assert.NoError(t, r.PreStopErr)
			assert.GreaterOrEqual(t, r.PreStopDuration, grace)
			assert.GreaterOrEqual(t, r.SignalAfter, grace)
			assert.False(t, r.Killed)
			assert.Equal(t, 0, r.ExitCode)
			assert.Less(t, r.ExitAfter, time.Minute)
		},
	}, {
		name:    "preStop status is not checked",
		env:     []string{"SHUTDOWNTEST_PRESTOP_SLEEP=0s", "SHUTDOWNTEST_PRESTOP_STATUS=500"},
		grace:   4 * time.Second,
		preStop: true,
		check: func(t *testing.T, grace time.Duration, r *shutdowntest.Report) {
			assert.Equal(t, 500, r.PreStopStatus)
			assert.NoError(t, r.PreStopErr)
			assert.False(t, r.PreStopAbandoned)
			assert.Positive(t, r.SignalAfter)
			assert.False(t, r.Killed)
			assert.Equal(t, 0, r.ExitCode)
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, addr := startChild(t, tt.env...)
			k := &shutdowntest.Kubelet{GracePeriod: tt.grace, Logf: t.Logf}
			if tt.preStop {
				k.PreStop = &shutdowntest.HTTPGet{URL: "http://" + addr + "/prestop"}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r := k.Terminate(ctx, p)
			require.NoError(t, ctx.Err(), "Terminate ran out of test time")
			tt.check(t, tt.grace, r)
		})
	}
}

func TestTerminateCommandPreStopRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	p, _ := startChild(t)
	k := &shutdowntest.Kubelet{
		GracePeriod: 4 * time.Second,
		PreStop:     &shutdowntest.HTTPGet{URL: "http://" + addr + "/prestop"},
		Logf:        t.Logf,
	}
	r := k.Terminate(context.Background(), p)
	require.Error(t, r.PreStopErr)
	assert.Zero(t, r.PreStopStatus)
	assert.False(t, r.PreStopAbandoned)
	assert.Positive(t, r.SignalAfter, "termination goes on after a failed hook")
	assert.False(t, r.Killed)
	assert.Equal(t, 0, r.ExitCode)
}

func TestTerminateCommandAlreadyExited(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	require.NoError(t, cmd.Start())
	p := shutdowntest.Command(cmd)
	require.NoError(t, cmd.Process.Signal(os.Interrupt)) // not handled: the child dies
	select {
	case <-p.Exited():
	case <-time.After(waitBound):
		_ = cmd.Process.Kill()
		t.Fatal("child did not exit on SIGINT")
	}

	r := (&shutdowntest.Kubelet{GracePeriod: 2 * time.Second}).Terminate(context.Background(), p)
	assert.Zero(t, r.SignalAfter, "an exited process is not signalled")
	assert.False(t, r.Killed)
	assert.Equal(t, -1, r.ExitCode)
	assert.Equal(t, -1, r.ContainerExitCode, "SIGINT was not sent by Terminate")
}

func TestCommandNotStarted(t *testing.T) {
	t.Parallel()
	assert.PanicsWithValue(t, "shutdowntest: Command needs a started *exec.Cmd", func() {
		shutdowntest.Command(exec.Command(os.Args[0]))
	})
}
