package httpdrain

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// sockDiagByFamily is SOCK_DIAG_BY_FAMILY (linux/sock_diag.h), the request
// of a sock_diag dump; NETLINK_INET_DIAG is its netlink family, also named
// NETLINK_SOCK_DIAG.
const sockDiagByFamily = 20

// inetDiagInfo is INET_DIAG_INFO (linux/inet_diag.h): the attribute that
// carries a socket's tcp_info.
const inetDiagInfo = 2

// tcpStates are the socket states a dump reports: ESTABLISHED and
// CLOSE_WAIT (the peer has closed its side), as bits (1 << state).
const tcpStates = 1<<1 | 1<<8

// diagKey identifies a TCP connection in the network namespace: its local
// and remote addresses, IPv4 ones unmapped.
type diagKey struct{ local, remote netip.AddrPort }

// keyOf returns c's diagKey, and false if c is not a TCP connection.
func keyOf(c net.Conn) (diagKey, bool) {
	l, lok := netConn(c).LocalAddr().(*net.TCPAddr)
	r, rok := netConn(c).RemoteAddr().(*net.TCPAddr)
	if !lok || !rok {
		return diagKey{}, false
	}
	return diagKey{unmap(l.AddrPort()), unmap(r.AddrPort())}, true
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// diagDump returns what the kernel knows of every TCP connection of the
// network namespace whose local port is port, IPv4 and IPv6, as inspect
// would tell it for each, in one netlink dump per family: a few system
// calls for thousands of connections, where inspect makes two for each.
// The kernel reports each socket's unread bytes (idiag_rqueue) and its
// tcp_info (sock_diag(7)).
func diagDump(port uint16) (map[diagKey]sockState, error) {
	states := make(map[diagKey]sockState)
	for _, family := range []uint8{syscall.AF_INET, syscall.AF_INET6} {
		if err := dumpFamily(family, port, states); err != nil {
			return nil, err
		}
	}
	return states, nil
}

// inetDiagReqV2 is struct inet_diag_req_v2 (linux/inet_diag.h).
type inetDiagReqV2 struct {
	family, protocol, ext, pad uint8
	states                     uint32
	id                         inetDiagSockID
}

// inetDiagSockID is struct inet_diag_sockid: ports and addresses in
// network byte order.
type inetDiagSockID struct {
	sport, dport [2]byte
	src, dst     [16]byte
	ifindex      uint32
	cookie       [2]uint32
}

// inetDiagMsgLen is the size of struct inet_diag_msg: family, state, timer,
// retrans, the sockid, then expires, rqueue, wqueue, uid, inode.
const inetDiagMsgLen = 4 + int(unsafe.Sizeof(inetDiagSockID{})) + 5*4

func dumpFamily(family uint8, port uint16, into map[diagKey]sockState) error {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, syscall.NETLINK_INET_DIAG)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	req := struct {
		hdr syscall.NlMsghdr
		req inetDiagReqV2
	}{
		hdr: syscall.NlMsghdr{Type: sockDiagByFamily, Flags: syscall.NLM_F_REQUEST | syscall.NLM_F_DUMP, Seq: 1},
		req: inetDiagReqV2{family: family, protocol: syscall.IPPROTO_TCP, ext: 1 << (inetDiagInfo - 1), states: tcpStates},
	}
	req.hdr.Len = uint32(unsafe.Sizeof(req))
	// The kernel skips sockets of other local ports (inet_diag.c,
	// inet_diag_dump_icsk).
	binary.BigEndian.PutUint16(req.req.id.sport[:], port)
	b := (*[unsafe.Sizeof(req)]byte)(unsafe.Pointer(&req))[:]
	if err := syscall.Sendto(fd, b, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case syscall.NLMSG_DONE:
				return nil
			case syscall.NLMSG_ERROR:
				return errors.New("httpdrain: sock_diag dump failed")
			case sockDiagByFamily:
				if k, s, ok := parseDiagMsg(m.Data); ok {
					into[k] = s
				}
			}
		}
	}
}

// parseDiagMsg reads one socket of a dump: its key, and its state as
// inspect tells it.
func parseDiagMsg(b []byte) (diagKey, sockState, bool) {
	if len(b) < inetDiagMsgLen {
		return diagKey{}, sockState{}, false
	}
	family := b[0]
	id := b[4:]
	sport := binary.BigEndian.Uint16(id[0:2])
	dport := binary.BigEndian.Uint16(id[2:4])
	var src, dst netip.Addr
	if family == syscall.AF_INET {
		src = netip.AddrFrom4([4]byte(id[4:8]))
		dst = netip.AddrFrom4([4]byte(id[20:24]))
	} else {
		src = netip.AddrFrom16([16]byte(id[4:20])).Unmap()
		dst = netip.AddrFrom16([16]byte(id[20:36])).Unmap()
	}
	rest := b[4+int(unsafe.Sizeof(inetDiagSockID{})):]
	rqueue := binary.NativeEndian.Uint32(rest[4:8])
	k := diagKey{netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)}
	for attrs := b[inetDiagMsgLen:]; len(attrs) >= 4; {
		l := int(binary.NativeEndian.Uint16(attrs[0:2]))
		typ := binary.NativeEndian.Uint16(attrs[2:4])
		if l < 4 || l > len(attrs) {
			break
		}
		if typ == inetDiagInfo && l-4 >= int(unsafe.Sizeof(tcpInfo{})) {
			var ti tcpInfo
			copy((*[unsafe.Sizeof(ti)]byte)(unsafe.Pointer(&ti))[:], attrs[4:l])
			return k, sockState{
				received:      ti.bytesReceived,
				unread:        rqueue > 0,
				recvSinceSend: ti.lastDataRecv < ti.lastDataSent,
			}, true
		}
		attrs = attrs[min((l+3)&^3, len(attrs)):]
	}
	return diagKey{}, sockState{}, false
}
