package httpdrain

import (
	"net"
	"syscall"
)

// wire returns the kernel's count of c's traffic (tcp_info, and the
// SIOCINQ and SIOCOUTQ queue sizes), and whether it could tell.
func wire(c net.Conn) (s wireState, ok bool) {
	withFD(c, func(fd uintptr) {
		ti, tiOK := readTCPInfo(fd)
		in, inOK := queued(fd, syscall.TIOCINQ)
		out, outOK := queued(fd, syscall.TIOCOUTQ)
		if !tiOK || !inOK || !outOK {
			return
		}
		s = wireState{sent: ti.bytesAcked + uint64(out), received: ti.bytesReceived, unread: in > 0}
		ok = true
	})
	return s, ok
}
