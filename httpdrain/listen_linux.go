package httpdrain

import (
	"net"
	"sync"
	"syscall"
)

// rawListener is a listener with a socket: *net.TCPListener,
// *net.UnixListener.
type rawListener interface {
	net.Listener
	syscall.Conn
}

// refuse makes l refuse new connections, as closing it would, without
// closing it, and reports whether it could: closing l would make the
// server's Serve return an error other than http.ErrServerClosed, since
// the server is not shutting down yet. It puts a placeholder socket in
// place of l's (dup3), which closes l's socket: new connections are
// refused, and those not yet accepted are reset, as when Shutdown closes
// the listener. Serve's Accept keeps waiting, since the placeholder is not
// in the runtime's poller and no one can reach it, until Shutdown closes
// the listener, which closes its copy of the placeholder. A socket shared
// with another descriptor (inherited, or from l.File) stays open through
// that one.
func refuse(l net.Listener) bool {
	rl := socketOf(l)
	if rl == nil {
		return false
	}
	rc, err := rl.SyscallConn()
	if err != nil {
		return false
	}
	ph, err := placeholder()
	if err != nil {
		return false
	}
	var dupErr error
	if err := rc.Control(func(fd uintptr) { dupErr = syscall.Dup3(ph, int(fd), syscall.O_CLOEXEC) }); err != nil {
		return false
	}
	return dupErr == nil
}

// placeholder is a listening socket that nothing connects to: a Unix
// socket with an autobound abstract name, non-blocking like the runtime's
// sockets, so that an Accept that calls accept on it gets EAGAIN and waits.
// It is made once per process, at the first listener (see
// listeners.add), so that the drain start costs one system call per
// listener; each listener it replaces holds a copy of it until Shutdown
// closes the listener.
var placeholder = sync.OnceValues(newPlaceholder)

func newPlaceholder() (int, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	// An empty name autobinds (unix(7)).
	if err = syscall.Bind(fd, &syscall.SockaddrUnix{}); err == nil {
		err = syscall.Listen(fd, 1)
	}
	if err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// prepare makes the placeholder ahead of the drain.
func prepare() { placeholder() }
