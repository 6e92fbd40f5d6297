package httpdrain

import (
	"syscall"
	"testing"
)

// BenchmarkInspect measures the drain's look at an idle keep-alive
// connection (two system calls: tcp_info and the unread bytes), each
// system call alone, and getpid, the cheapest system call, as the
// machine's floor: the drain of many idle connections costs one inspect
// per connection on top of Shutdown.
func BenchmarkInspect(b *testing.B) {
	client, server := connPair(b)
	exchange(b, client, server)

	b.Run("inspect", func(b *testing.B) {
		for b.Loop() {
			if _, ok := inspect(server); !ok {
				b.Fatal("no tcp_info")
			}
		}
	})
	withFD(server, func(fd uintptr) {
		b.Run("tcp_info", func(b *testing.B) {
			for b.Loop() {
				readTCPInfo(fd)
			}
		})
		b.Run("TIOCINQ", func(b *testing.B) {
			for b.Loop() {
				queued(fd, syscall.TIOCINQ)
			}
		})
	})
	b.Run("getpid", func(b *testing.B) {
		for b.Loop() {
			syscall.Getpid()
		}
	})
}
