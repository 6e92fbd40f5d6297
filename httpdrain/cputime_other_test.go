//go:build !unix

package httpdrain_test

import "time"

// cpuTime reports 0: the benchmarks' CPU time is measured on Unix only.
func cpuTime() time.Duration { return 0 }
