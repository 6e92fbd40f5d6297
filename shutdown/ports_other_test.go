//go:build !unix

package shutdown_test

// lockPorts does nothing where flock(2) is missing: run one test process
// at a time there.
func lockPorts() (unlock func()) { return func() {} }
