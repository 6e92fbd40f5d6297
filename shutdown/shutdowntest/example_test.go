package shutdowntest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"time"

	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

// A server in the test's own process: the preStop hook, then the stop
// signal, which stands for the service's signal handling.
func ExampleKubelet_Terminate() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /prestop", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("preStop from", r.UserAgent())
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	exited := make(chan struct{})
	stop := func(sig os.Signal) error {
		fmt.Println("got signal:", sig)
		close(exited) // the service's shutdown sequence would run here
		return nil
	}

	k := &shutdowntest.Kubelet{
		GracePeriod: 5 * time.Second,
		PreStop:     &shutdowntest.HTTPGet{URL: srv.URL + "/prestop"},
	}
	r := k.Terminate(context.Background(), shutdowntest.Func(stop, exited))
	fmt.Println("preStop status:", r.PreStopStatus)
	fmt.Println("killed:", r.Killed, "exit code:", r.ExitCode)
	// Output:
	// preStop from kube-lifecycle/1.34
	// got signal: terminated
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
