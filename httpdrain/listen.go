package httpdrain

import (
	"net"
	"reflect"
	"sync"
)

// listeners are the listeners the server serves, as srv.BaseContext sees
// them, so that the drain can refuse new connections at its start, as
// Shutdown does, while connections with a request arriving get their
// header grace: Shutdown itself would drop those requests (server.go,
// conn.serve: a request read once the server is shutting down is not
// served). The zero value holds none.
type listeners struct {
	mu      sync.Mutex
	ls      []net.Listener
	stopped bool
}

// add records l, which the server is about to serve; a listener added
// after stop is refused at once.
func (s *listeners) add(l net.Listener) {
	prepare()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ls = append(s.ls, l)
	if s.stopped {
		refuse(l)
	}
}

// stop makes every listener refuse new connections, and reports whether
// all of them do; those it could not stop keep accepting until Shutdown
// closes them.
func (s *listeners) stop() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	all := true
	for _, l := range s.ls {
		all = refuse(l) && all
	}
	return all
}

// socketOf returns the listener under l that has a socket: l itself, or
// the one it embeds as its field Listener, as crypto/tls's listener does,
// to any depth. It returns nil if there is none.
func socketOf(l net.Listener) rawListener {
	for range 8 {
		if rl, ok := l.(rawListener); ok {
			return rl
		}
		v := reflect.ValueOf(l)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			return nil
		}
		f := v.Elem().FieldByName("Listener")
		if !f.IsValid() || !f.CanInterface() {
			return nil
		}
		inner, ok := f.Interface().(net.Listener)
		if !ok || inner == nil {
			return nil
		}
		l = inner
	}
	return nil
}
