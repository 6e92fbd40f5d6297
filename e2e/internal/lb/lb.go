// Package lb runs HAProxy as a cloud load balancer in front of a
// Service's NodePorts: layer 4 (mode tcp), one backend server per node,
// each health-checked by an HTTP GET of the Service's healthCheckNodePort,
// as cloud load balancers do for externalTrafficPolicy: Local, and no
// retry of a connection that a node refused or dropped.
package lb

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// Frontend is one load-balanced Service.
type Frontend struct {
	Name string
	// Listen is the address clients connect to.
	Listen netip.AddrPort
	// Nodes are the nodes' addresses; NodePort and HealthCheckNodePort
	// the Service's.
	Nodes                         []netip.Addr
	NodePort, HealthCheckNodePort int
}

// Config is the balancer's health checking. Zero fields mean the
// defaults.
type Config struct {
	// Interval between health checks of a node; defaults to 1s.
	Interval time.Duration
	// Fall is the number of failed checks that take a node out; defaults
	// to 2. Rise is the number of passed checks that put it back;
	// defaults to 2.
	Fall, Rise int
}

// LB is a running HAProxy.
type LB struct {
	cmd  *exec.Cmd
	done chan struct{}
}

const config = `global
  maxconn 4096
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  retries 0
  default-server inter {{.Interval}} fall {{.Fall}} rise {{.Rise}}
{{range .Frontends}}
frontend {{.Name}}
  bind {{.Listen}}
  default_backend {{.Name}}
backend {{.Name}}
  balance roundrobin
  option httpchk GET /healthz
  http-check expect status 200
{{- $f := .}}{{range $i, $n := .Nodes}}
  server node{{$i}} {{$n}}:{{$f.NodePort}} check port {{$f.HealthCheckNodePort}}
{{- end}}
{{end}}`

// Start writes the configuration into dir and starts haproxy in the
// calling process's network namespace, logging to dir/haproxy.log.
func Start(ctx context.Context, dir string, cfg Config, fronts []Frontend) (*LB, error) {
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.Fall == 0 {
		cfg.Fall = 2
	}
	if cfg.Rise == 0 {
		cfg.Rise = 2
	}
	var b strings.Builder
	t := template.Must(template.New("haproxy").Parse(config))
	data := map[string]any{"Interval": fmt.Sprintf("%dms", cfg.Interval.Milliseconds()), "Fall": cfg.Fall, "Rise": cfg.Rise, "Frontends": fronts}
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("lb: %w", err)
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return nil, fmt.Errorf("lb: %w", err)
	}
	log, err := os.Create(filepath.Join(dir, "haproxy.log"))
	if err != nil {
		return nil, fmt.Errorf("lb: %w", err)
	}
	defer log.Close()
	cmd := exec.Command("haproxy", "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lb: %w", err)
	}
	l := &LB{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(l.done) }()
	select {
	case <-l.done:
		out, _ := os.ReadFile(filepath.Join(dir, "haproxy.log"))
		return nil, fmt.Errorf("lb: haproxy exited: %s", out)
	case <-time.After(500 * time.Millisecond):
	case <-ctx.Done():
		return nil, errors.Join(ctx.Err(), l.Close())
	}
	return l, nil
}

// Close stops HAProxy and waits for it.
func (l *LB) Close() error {
	_ = l.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.done:
		return nil
	case <-time.After(10 * time.Second):
		_ = l.cmd.Process.Kill()
		<-l.done
		return errors.New("lb: haproxy did not stop within 10s of SIGTERM; killed")
	}
}
