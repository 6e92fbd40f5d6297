package httpdrain

import (
	"net"
	"syscall"
	"testing"
)

// BenchmarkInspect measures the drain's look at one idle connection, the
// two system calls that tell whether a request is arriving on it (tcp_info
// and the unread bytes, through RawConn.Control), each alone, and getpid,
// the cheapest system call, as the machine's floor: the drain of many idle
// connections costs one inspect per connection on top of Shutdown.
func BenchmarkInspect(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer server.Close()

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
