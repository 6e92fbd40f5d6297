//go:build !linux

package httpdrain

import "net"

// inspect returns what the kernel knows of c's transport connection, and
// whether it could tell: only Linux exposes what is needed (tcp_info).
func inspect(net.Conn) (sockState, bool) { return sockState{}, false }

// hasUnread reports that it cannot tell whether c holds unread bytes.
func hasUnread(net.Conn) bool { return false }
