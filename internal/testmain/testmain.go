// Package testmain is the TestMain of the module's packages: it runs a
// package's tests, checks that none of them leaked a goroutine
// (go.uber.org/goleak), and exits without the race detector's pause at
// exit. Only tests import it.
package testmain

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// Run runs m's tests, then goleak's check when they passed, and exits
// with the result: 0 when both passed, else 1 or m.Run's code. It does
// not return.
//
// A binary built with -race that ends through os.Exit sleeps for the race
// runtime's atexit_sleep_ms, 1 s by default, so that reports from
// goroutines still running can be printed: a second per package and per
// run of go test. Run ends through syscall.Exit instead, which skips that
// pause. Nothing is lost: m.Run has already failed every test during which
// the detector reported a race, and reports a race outside any test, and
// the leak check has found no goroutine left that could race later.
func Run(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	syscall.Exit(code)
}
