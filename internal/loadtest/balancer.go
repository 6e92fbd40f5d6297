package loadtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// DialTimeout bounds the balancer's dial to an endpoint for one new
// connection.
const DialTimeout = 2 * time.Second

// Balancer is a TCP load balancer on loopback that behaves like
// kube-proxy with conntrack: each new connection goes to the next
// endpoint it believes ready, round robin; a readiness change reported
// with SetReady is believed only lag later, as kube-proxy learns of an
// EndpointSlice change late; established connections are never touched,
// whatever happens to their endpoint's readiness.
//
// When no endpoint is believed ready, or the dial to the chosen one
// fails, the client's connection is reset, as a client sees a rejected
// or refused SYN through a NAT. The balancer does not retry a dial, does
// not fall back to terminating endpoints and does not balance requests
// within a connection.
type Balancer struct {
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	eps   endpoints
	conns map[net.Conn]struct{} // nil once closed
}

// NewBalancer listens on 127.0.0.1:0 and balances over ready, believed
// ready at once, and over the endpoints SetReady adds later, believed lag
// after each report. Close stops it.
func NewBalancer(lag time.Duration, ready ...string) (*Balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loadtest: balancer: %w", err)
	}
	b := &Balancer{ln: ln, eps: endpoints{lag: lag}, conns: map[net.Conn]struct{}{}}
	for _, addr := range ready {
		b.eps.list = append(b.eps.list, &endpoint{addr: addr, ready: true})
	}
	b.wg.Go(b.accept)
	return b, nil
}

// Addr is the address clients connect to.
func (b *Balancer) Addr() string { return b.ln.Addr().String() }

// SetReady reports that the endpoint addr became ready or not, as an
// EndpointSlice update would; the balancer believes it lag later. An
// addr not seen before joins the end of the round robin at once, in the
// state reported: report it unready first for its readiness to lag too.
func (b *Balancer) SetReady(addr string, ready bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.eps.set(addr, ready)
}

// InRotation reports whether new connections may go to addr now.
func (b *Balancer) InRotation(addr string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eps.inRotation(addr)
}

// Close stops accepting, closes every connection the balancer holds, on
// both sides, and waits for its goroutines. It returns the listener's
// close error; a second call returns an error and does nothing else.
func (b *Balancer) Close() error {
	err := b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.conns = nil
	b.mu.Unlock()
	b.wg.Wait()
	return err
}

func (b *Balancer) accept() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return // closed
		}
		if !b.track(c) {
			c.Close()
			return
		}
		b.wg.Go(func() { b.forward(c) })
	}
}

// forward connects client to the next endpoint and splices them until
// both directions ended.
func (b *Balancer) forward(client net.Conn) {
	defer b.untrack(client)
	b.mu.Lock()
	addr := b.eps.pick()
	b.mu.Unlock()
	var server net.Conn
	err := errors.New("no endpoint ready")
	if addr != "" {
		server, err = net.DialTimeout("tcp", addr, DialTimeout)
	}
	if err != nil {
		client.(*net.TCPConn).SetLinger(0) // reset
		return
	}
	if !b.track(server) {
		server.Close()
		return
	}
	defer b.untrack(server)
	var wg sync.WaitGroup
	wg.Go(func() { splice(server, client) })
	splice(client, server)
	wg.Wait()
}

// track registers c so that Close can end it; false once closed.
func (b *Balancer) track(c net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conns == nil {
		return false
	}
	b.conns[c] = struct{}{}
	return true
}

func (b *Balancer) untrack(c net.Conn) {
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
	c.Close()
}

// splice copies src to dst, then half-closes dst, so that dst's peer sees
// EOF exactly when src's peer sent it. When a write to dst fails (its
// peer is gone) it stops reading src, but the other direction goes on
// delivering what dst's peer had already sent: through kube-proxy's NAT,
// a response already sent is not lost either.
func splice(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		src.(*net.TCPConn).CloseRead()
	}
	dst.(*net.TCPConn).CloseWrite()
}
