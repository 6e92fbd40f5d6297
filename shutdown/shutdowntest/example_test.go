package shutdowntest_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os/exec"
	"time"

	"github.com/lameduck/lameduck/shutdown"
	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

// A service in the test's own process, built on package shutdown: the
// kubelet's preStop hook starts its sequence, and its SIGTERM joins it.
func ExampleInProcess() {
	started := make(chan *shutdown.Sequence, 1)
	p := shutdowntest.InProcess(func(opt shutdown.Option) error { // the service's main
		seq, err := shutdown.New(opt, shutdown.WithPropagationDelay(100*time.Millisecond),
			shutdown.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			return err
		}
		seq.AfterDrain("db", func(context.Context) error { fmt.Println("db closed"); return nil })
		started <- seq
		return seq.Wait()
	})
	seq := <-started
	admin := httptest.NewServer(seq.PrestopHandler()) // in the service: seq.ServeAdmin
	defer admin.Close()

	k := &shutdowntest.Kubelet{
		GracePeriod: 5 * time.Second,
		PreStop:     &shutdowntest.HTTPGet{URL: admin.URL + "/prestop"},
	}
	r := k.Terminate(context.Background(), p)
	fmt.Println("preStop status:", r.PreStopStatus)
	fmt.Println("killed:", r.Killed, "exit code:", r.ExitCode)
	// Output:
	// db closed
	// preStop status: 200
	// killed: false exit code: 0
}

// A child process: sleep(1) dies of SIGTERM, well within its grace period.
func ExampleCommand() {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		fmt.Println(err)
		return
	}
	k := &shutdowntest.Kubelet{GracePeriod: 10 * time.Second}
	r := k.Terminate(context.Background(), shutdowntest.Command(cmd))
	fmt.Println("killed:", r.Killed, "exit code:", r.ExitCode)
	// Output:
	// killed: false exit code: -1
}
