package httpdrain

import (
	"crypto/tls"
	"net"
	"net/http"
	"syscall"
	"unsafe"
)

// tcpInfo is the head of Linux's struct tcp_info (include/uapi/linux/tcp.h)
// up to tcpi_bytes_received, which Linux 4.1 added.
type tcpInfo struct {
	state, caState, retransmits, probes, backoff, options, wscale, flags uint8

	rto, ato, sndMss, rcvMss                             uint32
	unacked, sacked, lost, retrans, fackets              uint32
	lastDataSent, lastAckSent, lastDataRecv, lastAckRecv uint32
	pmtu, rcvSsthresh, rtt, rttvar, sndSsthresh          uint32
	sndCwnd, advmss, reordering, rcvRtt, rcvSpace        uint32
	totalRetrans                                         uint32

	pacingRate, maxPacingRate, bytesAcked, bytesReceived uint64
}

// quiet reports whether closing c, a connection the server sees in state s
// (StateNew or StateIdle), cannot cut short a request the peer has started
// to send. net/http cannot tell: it keeps a connection "new" or "idle"
// until a whole request header has been read, so Shutdown closes a
// connection whose client is halfway through sending (server.go, conn.serve
// sets StateActive only after readRequest). The kernel can tell:
//   - a new connection is quiet if the peer has sent no byte at all, or,
//     for TLS, none beyond the handshake that the server has not read;
//   - an idle one is quiet if no data arrived after the server's last send
//     (the response) and none is waiting to be read.
//
// Times in tcp_info have jiffy resolution; equal times count as quiet, as a
// request sent within the same jiffy as the response is not yet read by
// the server either and shows up as unread bytes. When the kernel cannot
// answer, the connection counts as quiet, as net/http itself would treat it.
func quiet(c net.Conn, s http.ConnState) bool {
	_, isTLS := c.(*tls.Conn)
	sc, ok := netConn(c).(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	q := true
	rc.Control(func(fd uintptr) {
		var ti tcpInfo
		n := uint32(unsafe.Sizeof(ti))
		_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&ti)), uintptr(unsafe.Pointer(&n)), 0)
		if e != 0 || n < uint32(unsafe.Sizeof(ti)) {
			return
		}
		var unread int32
		_, _, e = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&unread)))
		if e == 0 && unread > 0 {
			q = false
			return
		}
		if s == http.StateNew {
			q = isTLS || ti.bytesReceived == 0
			return
		}
		// last* fields count milliseconds since the event: larger is older.
		q = ti.lastDataRecv >= ti.lastDataSent
	})
	return q
}
