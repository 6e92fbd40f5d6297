package main

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/lameduck/lameduck/internal/loadtest"
)

// Defaults of the in-process balancer.
const (
	// DefaultProbeInterval is how often the balancer probes each
	// backend's /readyz, like a readinessProbe's periodSeconds (scaled down).
	DefaultProbeInterval = 100 * time.Millisecond
	// DefaultProbeTimeout bounds one probe, like a readinessProbe's
	// timeoutSeconds (whose default is 1 s).
	DefaultProbeTimeout = time.Second
)

// endpoint is one copy of a service: its traffic address and the admin
// address that serves /readyz. Both stay the same across restarts.
type endpoint struct {
	Addr  string
	Admin string
}

// kubeProxy is a loadtest.Balancer whose endpoints' readiness comes from
// probing their /readyz, as the kubelet's readiness probe feeds the
// EndpointSlice that kube-proxy follows: each NEW connection goes to a
// backend it believes ready (round robin), a probe result is believed
// only after the propagation lag, and established connections are never
// touched. When no backend is believed ready the connection is reset
// (kube-proxy rejects it).
type kubeProxy struct {
	*loadtest.Balancer
	eps    []endpoint
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newKubeProxy listens on 127.0.0.1:0 and starts probing every interval;
// a probe result is believed lag after it was observed. Backends start
// unready until their first probe result is believed. Close stops it.
func newKubeProxy(eps []endpoint, interval, lag time.Duration) (*kubeProxy, error) {
	lb, err := loadtest.NewBalancer(lag)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &kubeProxy{Balancer: lb, eps: eps, cancel: cancel}
	for _, ep := range eps {
		lb.SetReady(ep.Addr, false) // in the round robin's order
	}
	for _, ep := range eps {
		p.wg.Go(func() { p.watch(ctx, ep, interval) })
	}
	return p, nil
}

// Name describes the balancer for the report.
func (p *kubeProxy) Name() string { return "built-in (kube-proxy-like)" }

// InRotation reports whether new connections may currently go to backend i.
func (p *kubeProxy) InRotation(_ context.Context, i int) (bool, error) {
	return p.Balancer.InRotation(p.eps[i].Addr), nil
}

// Close stops probing, then closes the balancer and every proxied
// connection. Call it once.
func (p *kubeProxy) Close() error {
	p.cancel()
	p.wg.Wait()
	return p.Balancer.Close()
}

// watch probes ep every interval and reports each result to the
// balancer, until ctx ends.
func (p *kubeProxy) watch(ctx context.Context, ep endpoint, interval time.Duration) {
	client := &http.Client{Timeout: DefaultProbeTimeout}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		p.SetReady(ep.Addr, probe(ctx, client, ep.Admin))
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
