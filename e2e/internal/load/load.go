// Package load sends open-loop load that never retries: requests start at
// a fixed rate whatever the answers do, each one is sent once, and every
// answer that is not a success is counted as a failure with its reason.
// The HTTP client POSTs a body net/http cannot replay, over keep-alive
// connections; the gRPC client calls Work.Do with retries disabled.
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/examples/grpc/workpb"
)

// Result counts what one run sent and got.
type Result struct {
	Sent, OK int
	Failures map[string]int // reason => count
	First    []string       // the first few failures, with their times
}

// Failed is the number of requests that did not succeed.
func (r *Result) Failed() int { return r.Sent - r.OK }

func (r *Result) String() string {
	var reasons []string
	for k, v := range r.Failures {
		reasons = append(reasons, fmt.Sprintf("%dx %s", v, k))
	}
	sort.Strings(reasons)
	return fmt.Sprintf("sent %d, ok %d, failed %d %v", r.Sent, r.OK, r.Failed(), reasons)
}

// Run starts send at rate per second until ctx is done or max requests
// have started, each with its own timeout, then waits for the requests in
// flight. It is open-loop: a slow answer does not delay the next request.
func Run(ctx context.Context, rate float64, max int, timeout time.Duration, send func(context.Context) error) *Result {
	res := &Result{Failures: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for res.Sent < max {
		select {
		case <-ctx.Done():
			wg.Wait()
			return res
		case <-tick.C:
		}
		res.Sent++
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			err := send(rctx)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				res.OK++
				return
			}
			reason := err.Error()
			if i := strings.LastIndex(reason, ": "); i >= 0 && (strings.Contains(reason, "127.0.0.1") || strings.Contains(reason, "10.")) {
				reason = reason[i+2:] // drop the ephemeral addresses
			}
			res.Failures[reason]++
			if len(res.First) < 10 {
				res.First = append(res.First, time.Now().UTC().Format("15:04:05.000")+" "+err.Error())
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return res
}

// body is a request body that net/http cannot rewind: it is not a
// *bytes.Reader, *bytes.Buffer or *strings.Reader, so http.NewRequest sets
// no GetBody, and the transport cannot resend a request whose connection
// broke (it would resend an idempotent request, or one with GetBody).
type body struct{ r io.Reader }

func (b *body) Read(p []byte) (int, error) { return b.r.Read(p) }

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

// HTTP is an HTTP/1.1 keep-alive client of examples/http's /work.
type HTTP struct {
	client *http.Client
	url    string
	mu     sync.Mutex
	conns  []Conn
}

// NewHTTP returns a client of http://addr/work?d=work with up to conns
// keep-alive connections; with conns 0 it opens a new connection for each
// request, as clients without keep-alive do. It connects with dial (nil:
// net.Dialer) and records every connection it opens.
func NewHTTP(addr string, work time.Duration, conns int, dial Dial) *HTTP {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	h := &HTTP{url: fmt.Sprintf("http://%s/work?d=%s", addr, work)}
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
	h.client = &http.Client{Transport: tr}
	return h
}

// Conns returns the connections the client opened, in order.
func (h *HTTP) Conns() []Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Conn(nil), h.conns...)
}

// Send POSTs once; anything but 200 with an "ok" body is an error.
func (h *HTTP) Send(ctx context.Context) error {
	const payload = `{"work":1}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, &body{strings.NewReader(payload)})
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(payload))
	if req.GetBody != nil {
		return fmt.Errorf("load: request body is replayable")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "ok") {
		return fmt.Errorf("status %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// Close closes the idle connections.
func (h *HTTP) Close() { h.client.CloseIdleConnections() }

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
// error named by its code.
func (g *GRPC) Send(ctx context.Context) error {
	c := g.clients[(g.next.Add(1)-1)%uint64(len(g.clients))]
	_, err := c.Do(ctx, &workpb.DoRequest{DurationMs: g.work.Milliseconds()})
	if err != nil {
		if s, ok := status.FromError(err); ok {
			return fmt.Errorf("%s: %s", s.Code(), s.Message())
		}
	}
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
