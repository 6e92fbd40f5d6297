package httpdrain

import (
	"net"
	"syscall"
	"unsafe"
)

// wire returns the kernel's count of c's traffic (tcp_info, and the
// SIOCINQ and SIOCOUTQ queue sizes), and whether it could tell.
func wire(c net.Conn) (s wireState, ok bool) {
	sc, isSC := netConn(c).(syscall.Conn)
	if !isSC {
		return s, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return s, false
	}
	rc.Control(func(fd uintptr) {
		var ti tcpInfo
		n := uint32(unsafe.Sizeof(ti))
		_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&ti)), uintptr(unsafe.Pointer(&n)), 0)
		if e != 0 || n < uint32(unsafe.Sizeof(ti)) {
			return
		}
		var in, out int32
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&in))); e != 0 {
			return
		}
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&out))); e != 0 {
			return
		}
		s = wireState{sent: ti.bytesAcked + uint64(out), received: ti.bytesReceived, unread: in > 0}
		ok = true
	})
	return s, ok
}
