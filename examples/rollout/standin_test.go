package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// nameServer is a stand-in backend for balancer tests: on its traffic
// port it answers every line with its name, on its admin port it serves
// /readyz from an atomic flag.
type nameServer struct {
	name  string
	ready atomic.Bool
	ln    net.Listener
	admin *http.Server
	adm   net.Listener
	wg    sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startNameServer(t *testing.T, name string) *nameServer {
	t.Helper()
	s := &nameServer{name: name, conns: map[net.Conn]struct{}{}}
	s.ready.Store(true)
	var err error
	s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.adm, err = net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	})
	s.admin = &http.Server{Handler: mux}
	s.wg.Go(func() { _ = s.admin.Serve(s.adm) })
	s.wg.Go(s.serve)
	t.Cleanup(s.close)
	return s
}

func (s *nameServer) endpoint() endpoint {
	return endpoint{Addr: s.ln.Addr().String(), Admin: s.adm.Addr().String()}
}

func (s *nameServer) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
				if _, err := c.Write([]byte(s.name + "\n")); err != nil {
					return
				}
			}
		})
	}
}

func (s *nameServer) close() {
	s.ln.Close()
	s.admin.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// ask sends a line on c and returns the backend's name.
func ask(c net.Conn) (string, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("?\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return line[:len(line)-1], nil
}

// dialName opens a new connection through addr and returns it with the
// name of the backend it reached.
func dialName(t *testing.T, addr string) (net.Conn, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	name, err := ask(c)
	require.NoError(t, err)
	return c, name
}

// waitFor polls cond every 10 ms for at most 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			require.Fail(t, "timed out waiting: "+what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// inRotation reports lb's view of copy i, failing the test on error.
func inRotation(t *testing.T, lb balancer, i int) bool {
	t.Helper()
	ok, err := lb.InRotation(context.Background(), i)
	require.NoError(t, err)
	return ok
}
