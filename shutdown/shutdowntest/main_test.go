package shutdowntest_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/lameduck/lameduck/internal/testmain"
)

// The test binary is also the child process that the tests terminate: with
// SHUTDOWNTEST_CHILD=1 in its environment it runs runChild instead of the
// tests. The child is configured by the environment:
//
//	SHUTDOWNTEST_ON_TERM         exit (default), ignore, or die (SIGTERM not handled)
//	SHUTDOWNTEST_EXIT_CODE       exit code after SIGTERM (default 0)
//	SHUTDOWNTEST_PRESTOP_SLEEP   if set, serve GET /prestop, answering after this duration
//	SHUTDOWNTEST_PRESTOP_STATUS  status of /prestop (default 200)
//	SHUTDOWNTEST_PRESTOP_EXIT    if set, exit 0 right after answering /prestop
//
// Once ready it prints "ready ADDR" on stdout (ADDR is "-" without /prestop).
func TestMain(m *testing.M) {
	if os.Getenv("SHUTDOWNTEST_CHILD") == "1" {
		os.Exit(runChild())
	}
	testmain.Run(m)
}

// childLifetime bounds how long a child may live, so that no child outlives
// a test binary that was itself killed.
const childLifetime = 2 * time.Minute

func runChild() int {
	time.AfterFunc(childLifetime, func() { os.Exit(99) })
	sigs := make(chan os.Signal, 1)
	if os.Getenv("SHUTDOWNTEST_ON_TERM") != "die" {
		signal.Notify(sigs, syscall.SIGTERM)
	}
	addr := "-"
	if sleep, ok := os.LookupEnv("SHUTDOWNTEST_PRESTOP_SLEEP"); ok {
		var err error
		if addr, err = servePreStop(sleep, os.Getenv("SHUTDOWNTEST_PRESTOP_STATUS")); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 2
		}
	}
	fmt.Println("ready", addr)
	code, _ := strconv.Atoi(os.Getenv("SHUTDOWNTEST_EXIT_CODE"))
	for range sigs {
		if os.Getenv("SHUTDOWNTEST_ON_TERM") != "ignore" {
			return code
		}
	}
	return 2
}

// servePreStop serves GET /prestop on loopback until the process exits.
func servePreStop(sleep, status string) (string, error) {
	d, err := time.ParseDuration(sleep)
	if err != nil {
		return "", err
	}
	code := http.StatusOK
	if status != "" {
		if code, err = strconv.Atoi(status); err != nil {
			return "", err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	_, exit := os.LookupEnv("SHUTDOWNTEST_PRESTOP_EXIT")
	mux.HandleFunc("GET /prestop", func(w http.ResponseWriter, r *http.Request) {
		waitFor(r.Context(), d)
		w.Header().Set("Content-Length", "0") // whole once flushed
		w.WriteHeader(code)
		if exit {
			_ = http.NewResponseController(w).Flush()
			os.Exit(0)
		}
	})
	go http.Serve(ln, mux) //nolint:errcheck // serves until the process exits
	return ln.Addr().String(), nil
}

func waitFor(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
