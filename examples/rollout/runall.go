package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lameduck/lameduck/examples/internal/selfsigned"
)

// runAll builds what the scenarios need, picks the balancer and runs
// every strategy × protocol, up to cfg.Parallel at once, saying what
// happens on progress. It returns the results of the scenarios that
// completed, in the report's order, with every scenario's error.
func runAll(ctx context.Context, cfg config, progress io.Writer) ([]*result, error) {
	start := time.Now()
	var sayMu sync.Mutex
	say := func(format string, args ...any) {
		sayMu.Lock()
		defer sayMu.Unlock()
		fmt.Fprintf(progress, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	dir, err := os.MkdirTemp("", "rollout-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := &runner{cfg: cfg, progress: progress}
	if cfg.Verbose {
		r.verbose = progress
	}
	if r.haproxy, err = pickBalancer(cfg.LB, say); err != nil {
		return nil, err
	}
	if slices.ContainsFunc(cfg.Protocols, protocol.tls) {
		if r.cert, err = selfsigned.Write(dir); err != nil {
			return nil, err
		}
		say("TLS: self-signed certificate for 127.0.0.1 in %s", r.cert.CertFile)
	}
	say("building the services into %s", dir)
	if r.bins, err = build(ctx, dir, cfg.Protocols); err != nil {
		return nil, err
	}
	var scenarios []scenario
	for _, s := range cfg.Strategies {
		for _, p := range cfg.Protocols {
			scenarios = append(scenarios, scenario{Strategy: s, Protocol: p})
		}
	}
	// Scenarios are independent (their own copies, ports, balancer and
	// data directory), so up to cfg.Parallel of them run at once; the
	// results keep the report's order.
	results := make([]*result, len(scenarios))
	errs := make([]error, len(scenarios))
	sem := make(chan struct{}, max(cfg.Parallel, 1))
	var wg sync.WaitGroup
	for i, sc := range scenarios {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			tag := fmt.Sprintf("%d/%d %s %s", i+1, len(scenarios), sc.Strategy, sc.Protocol)
			scSay := func(format string, args ...any) { say("%s: %s", tag, fmt.Sprintf(format, args...)) }
			scDir := filepath.Join(dir, sc.Strategy+"-"+string(sc.Protocol))
			res, err := r.run(ctx, sc, scDir, scSay)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", tag, err)
				return
			}
			scSay("%d sent, %d failed, %d acknowledged, %d rows, %d journal lines, %d lost",
				res.Load.Sent, res.Load.Failed(), res.Load.OK, res.Stored.Rows, res.Stored.Lines, res.Lost())
			results[i] = res
		})
	}
	wg.Wait()
	done := slices.DeleteFunc(results, func(r *result) bool { return r == nil })
	return done, errors.Join(errs...)
}

// pickBalancer returns the haproxy binary to use, or "" for the built-in
// balancer, and says which.
func pickBalancer(lb string, say func(string, ...any)) (string, error) {
	if lb == "builtin" {
		say("balancer: built-in, kube-proxy-like (-lb=builtin)")
		return "", nil
	}
	bin, err := haproxyPath()
	switch {
	case err == nil:
		say("balancer: %s (%s)", (&haproxy{}).Name(), bin)
		return bin, nil
	case lb == "haproxy":
		return "", fmt.Errorf("rollout: -lb=haproxy: %w (apt-get install haproxy)", err)
	}
	say("balancer: haproxy is not on PATH, using the built-in kube-proxy-like balancer instead")
	return "", nil
}

// build compiles the services the protocols need, once, into dir, from
// the examples module that holds this command.
func build(ctx context.Context, dir string, protocols []protocol) (map[string]string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return nil, fmt.Errorf("rollout: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if !strings.HasSuffix(mod, filepath.Join("examples", "go.mod")) {
		return nil, fmt.Errorf("rollout: run me inside the examples module (go -C examples run ./rollout), not in %q", mod)
	}
	bins := map[string]string{}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, p := range protocols {
		if name := p.service(); bins[name] == "" {
			bins[name] = filepath.Join(dir, name)
			args = append(args, "./"+name)
		}
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = filepath.Dir(mod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rollout: go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return bins, nil
}
