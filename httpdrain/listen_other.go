//go:build !linux

package httpdrain

import "net"

// rawListener is any listener: only Linux can refuse connections without
// closing the listener (see refuse).
type rawListener = net.Listener

// refuse reports that it cannot make l refuse connections: the listener
// then accepts until Shutdown closes it, after the header grace.
func refuse(net.Listener) bool { return false }

// prepare does nothing: there is nothing to prepare.
func prepare() {}
