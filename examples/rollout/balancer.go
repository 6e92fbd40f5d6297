package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the in-process balancer.
const (
	// DefaultProbeInterval is how often the balancer probes each
	// backend's /readyz, like a readinessProbe's periodSeconds (scaled down).
	DefaultProbeInterval = 100 * time.Millisecond
	// DefaultProbeTimeout bounds one probe, like a readinessProbe's
	// timeoutSeconds (whose default is 1 s).
	DefaultProbeTimeout = time.Second
	// DefaultDialTimeout bounds the dial to a backend for one new connection.
	DefaultDialTimeout = 2 * time.Second
)

// endpoint is one copy of a service: its traffic address and the admin
// address that serves /readyz. Both stay the same across restarts.
type endpoint struct {
	Addr  string
	Admin string
}

// kubeProxy is an in-process L4 balancer that behaves like kube-proxy:
// each NEW connection goes to a backend it believes ready (round robin),
// beliefs are learned by probing /readyz and applied only after a
// propagation lag, and established connections are never touched, whatever
// happens to their backend's readiness. When no backend is believed ready
// the connection is closed at once (kube-proxy rejects it).
//
// It does not fall back to terminating-but-serving endpoints, does not
// retry a failed dial and does not balance requests inside a connection.
type kubeProxy struct {
	ln       net.Listener
	backends []*proxyBackend
	next     atomic.Uint64
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// proxyBackend is the balancer's view of one endpoint.
type proxyBackend struct {
	endpoint
	ready atomic.Bool // what the balancer believes, lag included
}

// newKubeProxy listens on 127.0.0.1:0 and starts probing every interval;
// a probe result is believed lag after it was observed. Backends start
// unready until their first probe result is believed. Close stops it.
func newKubeProxy(eps []endpoint, interval, lag time.Duration) (*kubeProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("rollout: balancer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &kubeProxy{ln: ln, cancel: cancel, conns: make(map[net.Conn]struct{})}
	for _, ep := range eps {
		b := &proxyBackend{endpoint: ep}
		p.backends = append(p.backends, b)
		p.wg.Go(func() { b.watch(ctx, interval, lag) })
	}
	p.wg.Go(p.serve)
	return p, nil
}

// Addr is the address clients connect to.
func (p *kubeProxy) Addr() string { return p.ln.Addr().String() }

// Name describes the balancer for the report.
func (p *kubeProxy) Name() string { return "built-in (kube-proxy-like)" }

// InRotation reports whether new connections may currently go to backend i.
func (p *kubeProxy) InRotation(_ context.Context, i int) (bool, error) {
	return p.backends[i].ready.Load(), nil
}

// Close stops accepting, stops probing, closes every proxied connection
// and waits for all of the balancer's goroutines. Call it once.
func (p *kubeProxy) Close() error {
	err := p.ln.Close()
	p.cancel()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *kubeProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		b := p.pick()
		if b == nil || !p.track(c) {
			c.Close()
			continue
		}
		p.wg.Go(func() { p.forward(c, b) })
	}
}

// pick returns the next backend believed ready, or nil.
func (p *kubeProxy) pick() *proxyBackend {
	n := uint64(len(p.backends))
	start := p.next.Add(1)
	for i := range n {
		if b := p.backends[(start+i)%n]; b.ready.Load() {
			return b
		}
	}
	return nil
}

// track registers c so that Close can end it; false once closing.
func (p *kubeProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *kubeProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

// forward splices client and backend until both directions ended.
func (p *kubeProxy) forward(client net.Conn, b *proxyBackend) {
	defer p.untrack(client)
	server, err := net.DialTimeout("tcp", b.Addr, DefaultDialTimeout)
	if err != nil {
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.untrack(server)
	done := make(chan struct{})
	go func() {
		defer close(done)
		splice(server, client)
	}()
	splice(client, server)
	<-done
}

// splice copies src to dst, then half-closes dst so that the peer sees
// EOF exactly when the other side sent it. When a write to dst fails (the
// backend is gone) it stops reading src, but the other direction goes on
// delivering what dst's peer had already sent, as through kube-proxy's
// NAT, where a balancer in the way cannot lose a response either.
func splice(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		closeRead(src)
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		return
	}
	dst.Close()
}

func closeRead(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseRead()
		return
	}
	c.Close()
}

// watch probes the backend every interval and believes each result lag
// later, until ctx ends.
func (b *proxyBackend) watch(ctx context.Context, interval, lag time.Duration) {
	type observation struct {
		at    time.Time
		ready bool
	}
	var pending []observation
	client := &http.Client{Timeout: DefaultProbeTimeout}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		now := time.Now()
		pending = append(pending, observation{now.Add(lag), probe(ctx, client, b.Admin)})
		for len(pending) > 0 && !pending[0].at.After(now) {
			b.ready.Store(pending[0].ready)
			pending = pending[1:]
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probe reports whether GET /readyz on admin answers 200.
func probe(ctx context.Context, client *http.Client, admin string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode == http.StatusOK
}
