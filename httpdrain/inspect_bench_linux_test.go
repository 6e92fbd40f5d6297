package httpdrain

import (
	"syscall"
	"testing"
	"time"
)

// BenchmarkInspect measures the drain's look at a keep-alive connection,
// idle for longer than quietSend (one system call, tcp_info) and just
// answered (two: tcp_info and the unread bytes), each system call alone,
// and getpid, the cheapest system call, as the machine's floor: the drain
// of many idle connections costs one inspect per connection on top of
// Shutdown.
func BenchmarkInspect(b *testing.B) {
	client, server := connPair(b)
	exchange(b, client, server)
	fresh, freshServer := connPair(b)
	exchange(b, fresh, freshServer)
	time.Sleep(quietSend)
	exchange(b, fresh, freshServer)

	b.Run("inspect/idle", func(b *testing.B) {
		for b.Loop() {
			if _, ok := inspect(server); !ok {
				b.Fatal("no tcp_info")
			}
		}
	})
	b.Run("inspect/just-answered", func(b *testing.B) {
		for b.Loop() {
			if _, ok := inspect(freshServer); !ok {
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
