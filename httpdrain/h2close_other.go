//go:build !linux

package httpdrain

import "net"

// wire returns the kernel's count of c's traffic, and whether it could
// tell: only Linux exposes what is needed (tcp_info).
func wire(net.Conn) (wireState, bool) { return wireState{}, false }
