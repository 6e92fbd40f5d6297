// Package load holds the e2e's clients of the example services, for
// internal/loadtest's open-loop load: an HTTP client that POSTs a body
// net/http cannot replay over keep-alive connections (or a new connection
// per request) and records every connection it opens, and a gRPC client
// of Work.Do with retries disabled. Neither retries; every failure is
// counted with its reason by loadtest.Run.
package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lameduck/lameduck/examples/grpc/workpb"
	"github.com/lameduck/lameduck/internal/loadtest"
)

// Dial connects to addr; a nil Dial is net.Dialer's. The e2e tests dial
// from inside a node's network namespace.
type Dial func(ctx context.Context, network, addr string) (net.Conn, error)

// Conn is one connection a client opened: when the dial returned, and its
// local address, by which the node's conntrack table tells where the
// connection went.
type Conn struct {
	At    time.Time
	Local netip.AddrPort
}

// HTTP is an HTTP/1.1 client of examples/http's /work. Send POSTs once;
// anything but 200 with an "ok" body is an error.
type HTTP struct {
	loadtest.HTTP
	mu    sync.Mutex
	conns []Conn
}

// NewHTTP returns a client of http://addr/work?d=work with up to conns
// keep-alive connections; with conns 0 it opens a new connection for each
// request, as clients without keep-alive do. It connects with dial (nil:
// net.Dialer) and records every connection it opens.
func NewHTTP(addr string, work time.Duration, conns int, dial Dial) *HTTP {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	h := &HTTP{}
	record := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err == nil {
			local, _ := netip.ParseAddrPort(c.LocalAddr().String())
			h.mu.Lock()
			h.conns = append(h.conns, Conn{At: time.Now(), Local: local})
			h.mu.Unlock()
		}
		return c, err
	}
	tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute, DisableKeepAlives: conns == 0, DialContext: record}
	h.HTTP = loadtest.HTTP{
		Client: &http.Client{Transport: tr},
		URL:    fmt.Sprintf("http://%s/work?d=%s", addr, work),
		Body:   `{"work":1}`,
		Check:  okBody,
	}
	return h
}

// okBody accepts the body of examples/http's answer to a write.
func okBody(_ string, got []byte) error {
	if !bytes.HasPrefix(got, []byte("ok")) {
		return &loadtest.Error{Reason: "not ok", Err: fmt.Errorf("status 200 with body %q", bytes.TrimSpace(got))}
	}
	return nil
}

// Conns returns the connections the client opened, in order.
func (h *HTTP) Conns() []Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Conn(nil), h.conns...)
}

// Close closes the idle connections.
func (h *HTTP) Close() { h.Client.CloseIdleConnections() }

// GRPC is a client of examples/grpc's Work.Do over several connections,
// used in turn: through an L4 balancer, each connection is pinned to one
// pod, so several are needed to reach several pods.
type GRPC struct {
	conns   []*grpc.ClientConn
	clients []workpb.WorkClient
	next    atomic.Uint64
	work    time.Duration
}

// NewGRPC returns a client of addr with n connections, dialed with dial
// (nil: grpc's own), and retries disabled. grpc-go still resends, invisibly, a call that never left the
// client (transparent retry, which WithDisableRetry does not turn off); the
// written rows show that no call was processed twice.
func NewGRPC(addr string, work time.Duration, n int, dial Dial) (*GRPC, error) {
	g := &GRPC{work: work}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDisableRetry()}
	if dial != nil {
		opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return dial(ctx, "tcp", addr) }))
	}
	for range n {
		conn, err := grpc.NewClient("passthrough:///"+addr, opts...)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("load: %w", err), g.Close())
		}
		g.conns = append(g.conns, conn)
		g.clients = append(g.clients, workpb.NewWorkClient(conn))
	}
	return g, nil
}

// Send calls Do once on the next connection; any status but OK is an
// error, which loadtest.Reason names by its code.
func (g *GRPC) Send(ctx context.Context) error {
	c := g.clients[(g.next.Add(1)-1)%uint64(len(g.clients))]
	_, err := c.Do(ctx, &workpb.DoRequest{DurationMs: g.work.Milliseconds()})
	return err
}

// Close closes the connections.
func (g *GRPC) Close() error {
	var errs []error
	for _, c := range g.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
