package httpdrain

import (
	"net"
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

// inspect returns what the kernel knows of c's transport connection, and
// whether it could tell. Times in tcp_info have jiffy resolution; equal
// times count as nothing received since the send, as a request sent within
// the same jiffy as the response is not yet read by the server either and
// shows up as unread bytes.
func inspect(c net.Conn) (k sockState, ok bool) {
	withFD(c, func(fd uintptr) {
		ti, tiOK := readTCPInfo(fd)
		if !tiOK {
			return
		}
		unread, _ := queued(fd, syscall.TIOCINQ)
		k = sockState{
			received: ti.bytesReceived,
			unread:   unread > 0,
			// last* fields count milliseconds since the event: larger is older.
			recvSinceSend: ti.lastDataRecv < ti.lastDataSent,
		}
		ok = true
	})
	return k, ok
}

// hasUnread reports whether c's socket holds bytes from the peer that the
// server has not read.
func hasUnread(c net.Conn) bool {
	var unread int32
	withFD(c, func(fd uintptr) { unread, _ = queued(fd, syscall.TIOCINQ) })
	return unread > 0
}

// withFD runs fn with the descriptor of c's socket, unless c has none or
// it is closed.
func withFD(c net.Conn, fn func(fd uintptr)) {
	sc, ok := netConn(c).(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(fn) // an error means fn did not run
}

// readTCPInfo reads the socket's tcp_info, and whether the kernel gave it
// whole.
func readTCPInfo(fd uintptr) (ti tcpInfo, ok bool) {
	n := uint32(unsafe.Sizeof(ti))
	_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
		uintptr(unsafe.Pointer(&ti)), uintptr(unsafe.Pointer(&n)), 0)
	return ti, e == 0 && n >= uint32(unsafe.Sizeof(ti))
}

// queued returns the bytes in one of the socket's queues: req is
// TIOCINQ (received, unread) or TIOCOUTQ (unsent or unacknowledged).
func queued(fd uintptr, req uintptr) (int32, bool) {
	var n int32
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(unsafe.Pointer(&n)))
	return n, e == 0
}
