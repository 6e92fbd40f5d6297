//go:build unix

package shutdown_test

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockPorts serializes, across the test processes of this machine, the
// examples that listen on the README's fixed ports (:8080, :8081, :9090),
// so that two test runs at once do not take each other's ports. It
// returns the function that releases the lock; the kernel releases it too
// if the process dies.
func lockPorts() (unlock func()) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "lameduck-example-ports.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return func() {}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return func() {}
	}
	return func() { f.Close() } // closing the file releases the lock
}
