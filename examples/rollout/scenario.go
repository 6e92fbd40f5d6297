package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/lameduck/lameduck/examples/internal/selfsigned"
	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

// protocol is how the load talks to the copies.
type protocol string

const (
	http1  protocol = "http1"
	h2c    protocol = "h2c"
	grpcP  protocol = "grpc"
	https1 protocol = "https1" // HTTP/1.1 over TLS, ALPN "http/1.1"
	https2 protocol = "https2" // HTTP/2 over TLS, ALPN "h2"
	grpcs  protocol = "grpcs"  // gRPC over TLS
	page   protocol = "page"   // finite gRPC Page streams, plaintext
)

// allProtocols are the protocols known, in the report's order.
var allProtocols = []protocol{http1, h2c, grpcP, https1, https2, grpcs, page}

// String is the protocol's name in the report.
func (p protocol) String() string {
	switch p {
	case http1:
		return "HTTP/1.1"
	case h2c:
		return "HTTP/2 (h2c)"
	case grpcP:
		return "gRPC"
	case https1:
		return "HTTPS/1.1"
	case https2:
		return "HTTPS/2"
	case grpcs:
		return "gRPC/TLS"
	case page:
		return "gRPC Page stream"
	}
	return string(p)
}

// service is the example service a protocol needs.
func (p protocol) service() string {
	switch p {
	case grpcP, grpcs, page:
		return "grpc"
	}
	return "http"
}

// tls reports whether the copies serve, and the load speaks, TLS.
func (p protocol) tls() bool { return p == https1 || p == https2 || p == grpcs }

// writes reports whether each acknowledged request is a write the copies
// store (a row and a journal line). Page streams store nothing.
func (p protocol) writes() bool { return p != page }

// processStrategy is the -strategy a copy runs with: sleep is the
// shutdown strategy behind the kubelet's preStop sleep action.
func processStrategy(strategy string) string {
	if strategy == "sleep" {
		return "shutdown"
	}
	return strategy
}

// scenario is one row of the report.
type scenario struct {
	Strategy string
	Protocol protocol
}

// result is what one scenario measured.
type result struct {
	scenario
	Load         *loadResult
	Terminations []termination
	Stored       stored
}

// Lost is the number of acknowledged writes missing on disk; 0 for a
// protocol that does not write.
func (r *result) Lost() int {
	if !r.Protocol.writes() {
		return 0
	}
	return lost(r.Load.OK, r.Stored)
}

// Killed is the number of copies that were SIGKILLed.
func (r *result) Killed() int {
	n := 0
	for _, t := range r.Terminations {
		if t.Report.Killed {
			n++
		}
	}
	return n
}

// runner runs scenarios with built binaries and a kind of balancer.
type runner struct {
	cfg      config
	bins     map[string]string // service name -> binary
	cert     selfsigned.Cert   // for the TLS protocols: the copies serve it, the load trusts it
	haproxy  string            // haproxy binary; empty: built-in balancer
	progress io.Writer
	verbose  io.Writer // copies' and haproxy's logs; nil unless -v
}

// run runs one scenario in dir: start the copies and the balancer, load
// them, roll them, stop everything, count what is on disk.
func (r *runner) run(ctx context.Context, sc scenario, dir string, say func(string, ...any)) (res *result, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.bound())
	defer cancel()
	specs, copies, err := r.startCopies(ctx, sc, dir)
	defer func() { err = errors.Join(err, stopCopies(copies)) }()
	if err != nil {
		return nil, err
	}
	lb, err := r.startBalancer(ctx, dir, copies)
	if err != nil {
		return nil, err
	}
	defer lb.Close()
	for i := range copies {
		if err := waitRotation(ctx, lb, i, true); err != nil {
			return nil, err
		}
	}
	lanes, err := r.lanes(sc.Protocol, lb.Addr(), r.cert)
	if err != nil {
		return nil, err
	}
	defer closeLanes(lanes)
	say("%d copies ready behind %s; load %g req/s over %d connections", len(copies), lb.Addr(), r.cfg.Rate, len(lanes))
	res = &result{scenario: sc}
	res.Load, res.Terminations, err = r.loadAndRoll(ctx, sc, specs, copies, lb, lanes, say)
	if err != nil {
		return nil, err
	}
	closeLanes(lanes)
	lb.Close()
	if err := stopCopies(copies); err != nil {
		return nil, err
	}
	res.Stored, err = countStored(dataDirs(specs))
	return res, err
}

// loadAndRoll runs the open-loop load for warm-up, the rolling restart
// and cool-down (at least cfg.Duration in all), then waits for the
// requests in flight.
func (r *runner) loadAndRoll(ctx context.Context, sc scenario, specs []copySpec, copies []*instance, lb balancer, lanes []sender, say func(string, ...any)) (*loadResult, []termination, error) {
	stop := make(chan struct{})
	var load *loadResult
	var loadErr error
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		load, loadErr = openLoop(stop, lanes, r.cfg.Rate, r.cfg.maxRequests(), DefaultRequestTimeout)
	}()
	terms, err := func() ([]termination, error) {
		if err := sleepCtx(ctx, r.cfg.Warmup); err != nil {
			return nil, err
		}
		terms, err := rollingRestart(ctx, specs, copies, lb, sc.Strategy, say)
		if err != nil {
			return terms, err
		}
		rest := max(r.cfg.Warmup, r.cfg.Duration-time.Since(start))
		return terms, sleepCtx(ctx, rest)
	}()
	close(stop)
	<-done
	return load, terms, errors.Join(err, loadErr)
}

func (r *runner) startCopies(ctx context.Context, sc scenario, dir string) ([]copySpec, []*instance, error) {
	specs := make([]copySpec, r.cfg.Copies)
	copies := make([]*instance, r.cfg.Copies)
	for i := range specs {
		specs[i] = copySpec{
			Bin:      r.bins[sc.Protocol.service()],
			Strategy: processStrategy(sc.Strategy),
			Grace:    r.cfg.Grace,
			Delay:    r.cfg.Delay,
			DataDir:  filepath.Join(dir, fmt.Sprintf("copy%d", i)),
			Addr:     "127.0.0.1:0",
			Admin:    "127.0.0.1:0",
			Log:      prefixed(r.verbose, fmt.Sprintf("  copy%d| ", i)),
		}
		if sc.Protocol.tls() {
			specs[i].TLSCert, specs[i].TLSKey = r.cert.CertFile, r.cert.KeyFile
		}
		in, err := startCopy(ctx, specs[i])
		if err != nil {
			return specs, copies, err
		}
		copies[i] = in
		// Replacements come back on the same ports, as a pod keeps its
		// Service's port (and a StatefulSet pod its name).
		specs[i].Addr, specs[i].Admin = in.Addr, in.Admin
	}
	return specs, copies, nil
}

func (r *runner) startBalancer(ctx context.Context, dir string, copies []*instance) (balancer, error) {
	eps := make([]endpoint, len(copies))
	for i, in := range copies {
		eps[i] = in.endpoint
	}
	if r.haproxy == "" {
		return newKubeProxy(eps, DefaultProbeInterval, r.cfg.Lag)
	}
	return startHAProxy(ctx, r.haproxy, dir, eps, prefixed(r.verbose, "  haproxy| "))
}

func (r *runner) lanes(p protocol, addr string, cert selfsigned.Cert) ([]sender, error) {
	lanes := make([]sender, 0, r.cfg.Conns)
	var tlsCert *selfsigned.Cert
	if p.tls() {
		tlsCert = &cert
	}
	for i := range r.cfg.Conns {
		switch p {
		case grpcP, grpcs, page:
			l, err := newGRPCLane(addr, r.cfg.Work, tlsCert)
			if err != nil {
				closeLanes(lanes)
				return nil, err
			}
			if p == page {
				lanes = append(lanes, &pageLane{grpcLane: l, seed: uint64(i)})
			} else {
				lanes = append(lanes, l)
			}
		default:
			lanes = append(lanes, newHTTPLane(addr, r.cfg.Work, p == h2c || p == https2, tlsCert))
		}
	}
	return lanes, nil
}

func closeLanes(lanes []sender) {
	for _, l := range lanes {
		l.Close()
	}
}

// stopCopies terminates the copies still running, all at once, as a
// kubelet would with SIGTERM and the grace period (no preStop: nothing
// routes to them any more), and waits for them. It reports copies that
// had to be SIGKILLed. It may be called again: stopped copies are nil.
func stopCopies(copies []*instance) error {
	var wg sync.WaitGroup
	errs := make([]error, len(copies))
	for i, in := range copies {
		if in == nil {
			continue
		}
		copies[i] = nil
		wg.Go(func() {
			k := shutdowntest.Kubelet{GracePeriod: 30 * time.Second, StopSignal: syscall.SIGTERM}
			if rep := k.Terminate(context.Background(), in.proc); rep.Killed {
				errs[i] = fmt.Errorf("rollout: copy %d SIGKILLed at the end: %s", i, in.tail.Last())
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func dataDirs(specs []copySpec) []string {
	dirs := make([]string, len(specs))
	for i, s := range specs {
		dirs[i] = s.DataDir
	}
	return dirs
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// prefixed returns a writer that prefixes each write (a line) to w, or nil.
func prefixed(w io.Writer, prefix string) io.Writer {
	if w == nil {
		return nil
	}
	return writerFunc(func(p []byte) (int, error) {
		return fmt.Fprintf(w, "%s%s", prefix, p)
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
