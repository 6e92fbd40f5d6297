package httpdrain_test

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// lbProxy is a loopback TCP load balancer: it sends each new client
// connection to the next backend it believes ready, round robin, and learns
// that a backend is no longer ready only lag after the fact, like
// kube-proxy or a cloud load balancer following an EndpointSlice.
// Established connections are never touched. When the chosen backend
// refuses, the client connection is reset.
type lbProxy struct {
	ln       net.Listener
	backends []string
	lag      time.Duration

	mu      sync.Mutex
	unready []time.Time // when each backend stopped being ready; zero: ready
	next    int
	conns   map[net.Conn]struct{}
	done    bool
	wg      sync.WaitGroup
}

func startProxy(t testing.TB, lag time.Duration, backends ...string) *lbProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &lbProxy{ln: ln, backends: backends, lag: lag, unready: make([]time.Time, len(backends)), conns: make(map[net.Conn]struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *lbProxy) addr() string { return p.ln.Addr().String() }

// addBackend puts one more backend in rotation, as a new pod becoming
// ready, and returns its index.
func (p *lbProxy) addBackend(addr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backends = append(p.backends, addr)
	p.unready = append(p.unready, time.Time{})
	return len(p.backends) - 1
}

// setUnready records that backend i failed its readiness probe now.
func (p *lbProxy) setUnready(i int) {
	p.mu.Lock()
	p.unready[i] = time.Now()
	p.mu.Unlock()
}

// pick returns the next backend believed ready.
func (p *lbProxy) pick() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range p.backends {
		i := p.next % len(p.backends)
		p.next++
		if u := p.unready[i]; u.IsZero() || time.Since(u) < p.lag {
			return p.backends[i]
		}
	}
	return ""
}

func (p *lbProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.add(c) {
			return
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

// add registers c, or closes it and reports false if the proxy is closed.
func (p *lbProxy) add(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *lbProxy) remove(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

func (p *lbProxy) serve(client net.Conn) {
	addr := p.pick()
	if addr == "" {
		p.remove(client)
		return
	}
	backend, err := net.Dial("tcp", addr)
	if err != nil {
		// Reset, as the client would see a refused SYN through a NAT
		// load balancer.
		client.(*net.TCPConn).SetLinger(0)
		p.remove(client)
		return
	}
	if !p.add(backend) {
		p.remove(client)
		return
	}
	var pipes sync.WaitGroup
	pipes.Go(func() { pipe(backend, client) })
	pipes.Go(func() { pipe(client, backend) })
	pipes.Wait()
	p.remove(client, backend)
}

// pipe copies src to dst, then passes the end of the stream on; an error
// on either side resets both, as a TCP proxy must.
func pipe(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		src.Close()
		dst.Close()
		return
	}
	dst.(*net.TCPConn).CloseWrite()
}

func (p *lbProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.done = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
