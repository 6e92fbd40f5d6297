// Command rollout measures what a rolling restart costs the clients of a
// service, for each termination strategy (none, shutdown, sleep,
// lameduck) and each protocol (HTTP/1.1, h2c, gRPC, the same
// three over TLS, and finite gRPC Page streams).
//
// It builds examples/http and examples/grpc, starts -copies copies behind
// a load balancer (HAProxy in mode tcp with active checks of /readyz when
// it is installed, else a built-in balancer that behaves like kube-proxy),
// sends open-loop load (POSTs, gRPC calls, or Page streams of 1 to 2 s)
// over keep-alive connections that never retry,
// restarts every copy in turn with the kubelet simulator of
// shutdown/shutdowntest, and prints one row per scenario: requests sent
// and failed, streams truncated, p99 latency, time from termination to
// exit, SIGKILLs, and acknowledged writes missing from the copies'
// databases and journals.
//
// For the TLS protocols it writes a self-signed certificate for 127.0.0.1
// into its temporary directory, starts the copies with -tls-cert and
// -tls-key and has the load trust only that certificate. The balancers
// stay L4, so TLS passes through them to the copies, and their health
// checks stay on the plaintext admin /readyz.
//
// Run it from the examples module:
//
//	go -C examples run ./rollout
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// allStrategies are the termination strategies compared: the example
// services' -strategy none, shutdown and lameduck, and sleep, the
// native preStop sleep action of the propagation delay followed by
// -strategy shutdown (what the Kubernetes docs and most teams recommend).
var allStrategies = []string{"none", "shutdown", "sleep", "lameduck"}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	Rate       float64
	Duration   time.Duration
	Warmup     time.Duration
	Copies     int
	Conns      int
	Work       time.Duration
	Strategies []string
	Protocols  []protocol
	LB         string
	Lag        time.Duration
	Grace      time.Duration
	Delay      time.Duration
	Verbose    bool
	Parallel   int
}

func parseFlags(args []string) (config, error) {
	var cfg config
	var strategies, protocols string
	fs := flag.NewFlagSet("rollout", flag.ContinueOnError)
	fs.Float64Var(&cfg.Rate, "rate", 100, "requests per second (open loop: sent whatever the responses do)")
	fs.DurationVar(&cfg.Duration, "duration", 3*time.Second, "minimum load time per scenario")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "load before the first termination and after the last replacement")
	fs.IntVar(&cfg.Copies, "copies", 3, "copies of the service behind the balancer")
	fs.IntVar(&cfg.Conns, "conns", 8, "keep-alive connections (gRPC: ClientConns) the load uses")
	fs.DurationVar(&cfg.Work, "work", 20*time.Millisecond, "time each request works on the server (/work?d=, duration_ms)")
	fs.StringVar(&strategies, "strategies", strings.Join(allStrategies, ","), "comma-separated strategies: none, shutdown, sleep, lameduck")
	fs.StringVar(&protocols, "protocols", "http1,h2c,grpc,https1,https2,grpcs,page", "comma-separated protocols: http1, h2c, grpc; https1, https2, grpcs (the same over TLS); page (gRPC Page streams)")
	fs.StringVar(&cfg.LB, "lb", "auto", "load balancer: haproxy, builtin, or auto (haproxy when on PATH)")
	fs.DurationVar(&cfg.Lag, "lag", 500*time.Millisecond, "built-in balancer: time until it believes a readiness change (endpoint propagation)")
	fs.DurationVar(&cfg.Grace, "grace", 8*time.Second, "terminationGracePeriodSeconds, for the kubelet and the copies")
	fs.DurationVar(&cfg.Delay, "delay", 1500*time.Millisecond, "the copies' propagation delay (lameduck: /prestop answers after it)")
	fs.BoolVar(&cfg.Verbose, "v", false, "show the copies' and the balancer's logs")
	fs.IntVar(&cfg.Parallel, "parallel", 1, "scenarios run at once (each has its own copies, ports and balancer; more at once load the machine more)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.Strategies = splitList(strategies)
	for _, p := range splitList(protocols) {
		cfg.Protocols = append(cfg.Protocols, protocol(p))
	}
	return cfg, cfg.validate()
}

func (c config) validate() error {
	for _, s := range c.Strategies {
		if !slices.Contains(allStrategies, s) {
			return fmt.Errorf("rollout: unknown strategy %q: use none, shutdown, sleep or lameduck", s)
		}
	}
	for _, p := range c.Protocols {
		if !slices.Contains(allProtocols, p) {
			return fmt.Errorf("rollout: unknown protocol %q: use http1, h2c, grpc, https1, https2, grpcs or page", p)
		}
	}
	switch {
	case len(c.Strategies) == 0 || len(c.Protocols) == 0:
		return fmt.Errorf("rollout: -strategies and -protocols must name at least one")
	case c.Rate <= 0 || c.Rate > 10000:
		return fmt.Errorf("rollout: -rate %g out of range: use 0 < rate <= 10000", c.Rate)
	case c.Parallel < 1 || c.Parallel > 16:
		return fmt.Errorf("rollout: -parallel %d out of range: use 1 to 16", c.Parallel)
	case c.Copies < 2 || c.Conns < 1:
		return fmt.Errorf("rollout: -copies must be at least 2 and -conns at least 1")
	case c.LB != "auto" && c.LB != "haproxy" && c.LB != "builtin":
		return fmt.Errorf("rollout: -lb %q: use auto, haproxy or builtin", c.LB)
	case c.Duration < 0 || c.Warmup < 0 || c.Lag < 0 || c.Work < 0:
		return fmt.Errorf("rollout: durations must not be negative")
	}
	return nil
}

// bound is the most one scenario may take before it is abandoned.
func (c config) bound() time.Duration {
	return c.Duration + 2*c.Warmup + time.Duration(c.Copies+1)*(c.Grace+30*time.Second)
}

// maxRequests bounds the requests of one scenario.
func (c config) maxRequests() int {
	return int(c.Rate*c.bound().Seconds()) + 1
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// run builds the services, runs every scenario and prints the table to
// out; progress goes to progress.
func run(ctx context.Context, cfg config, out, progress io.Writer) error {
	results, err := runAll(ctx, cfg, progress)
	if len(results) > 0 {
		fmt.Fprintf(out, "\nrolling restart of %d copies, %g req/s open loop over %d connections, %v of work per request, grace %v, delay %v\n",
			cfg.Copies, cfg.Rate, cfg.Conns, cfg.Work, cfg.Grace, cfg.Delay)
		if perr := printTable(out, results); perr != nil {
			return perr
		}
		fmt.Fprintln(out)
		printExamples(out, results)
	}
	return err
}
