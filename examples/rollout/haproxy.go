package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// haproxyConfig is HAProxy in L4 (mode tcp), like kube-proxy: a
// connection is pinned to its backend for its whole life, and a backend
// that goes down is only taken out of rotation for NEW connections
// (on-marked-down shutdown-sessions is deliberately not set). Readiness
// comes from active checks of GET /readyz on each copy's admin port.
// retries 0 and no redispatch: kube-proxy does not retry a refused
// connection either, so a copy that stops listening too early costs a
// client its connection, as it would in a cluster.
const haproxyConfig = `global
	maxconn 4096
	stats socket {{.Socket}} mode 600 level admin
	log stderr format short local0 notice

defaults
	mode tcp
	log global
	retries 0
	timeout connect 2s
	timeout client 60s
	timeout server 60s
	timeout check 1s

frontend traffic
	bind {{.Bind}}
	default_backend copies

backend copies
	balance roundrobin
	option httpchk GET /readyz
	http-check expect status 200
	default-server inter {{.Inter}} fastinter {{.Inter}} downinter {{.Inter}} rise 2 fall 2
{{- range $i, $ep := .Endpoints}}
	server copy{{$i}} {{$ep.Addr}} check port {{port $ep.Admin}}
{{- end}}
`

// DefaultHAProxyCheckInterval is HAProxy's inter between active checks.
const DefaultHAProxyCheckInterval = 100 * time.Millisecond

// haproxy runs one haproxy process in the foreground (-db) for the
// duration of a scenario.
type haproxy struct {
	addr   string
	socket string
	cmd    *exec.Cmd
	exited chan struct{}
}

// haproxyPath returns the haproxy binary on PATH, or an error.
func haproxyPath() (string, error) {
	return exec.LookPath("haproxy")
}

// startHAProxy writes a config for eps into dir, starts haproxy and waits
// until it accepts connections. stderr receives haproxy's own log.
func startHAProxy(ctx context.Context, bin, dir string, eps []endpoint, stderr io.Writer) (*haproxy, error) {
	bind, err := freePort()
	if err != nil {
		return nil, err
	}
	h := &haproxy{addr: bind, socket: filepath.Join(dir, "haproxy.sock"), exited: make(chan struct{})}
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := writeHAProxyConfig(cfg, bind, h.socket, eps); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, bin, "-c", "-f", cfg).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rollout: haproxy config check: %w: %s", err, out)
	}
	h.cmd = exec.Command(bin, "-f", cfg, "-db")
	h.cmd.Stdout, h.cmd.Stderr = stderr, stderr
	if err := h.cmd.Start(); err != nil {
		return nil, fmt.Errorf("rollout: start haproxy: %w", err)
	}
	go func() {
		_ = h.cmd.Wait()
		close(h.exited)
	}()
	if err := h.waitListening(ctx); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

func writeHAProxyConfig(path, bind, socket string, eps []endpoint) error {
	tmpl := template.Must(template.New("haproxy").Funcs(template.FuncMap{
		"port": func(addr string) string {
			_, port, _ := net.SplitHostPort(addr)
			return port
		},
	}).Parse(haproxyConfig))
	var b strings.Builder
	err := tmpl.Execute(&b, map[string]any{
		"Bind":      bind,
		"Socket":    socket,
		"Inter":     fmt.Sprintf("%dms", DefaultHAProxyCheckInterval.Milliseconds()),
		"Endpoints": eps,
	})
	if err != nil {
		return fmt.Errorf("rollout: haproxy config: %w", err)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// waitListening waits until the stats socket answers.
func (h *haproxy) waitListening(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if _, err := h.command("show info"); err == nil {
			return nil
		}
		select {
		case <-h.exited:
			return errors.New("rollout: haproxy exited at start (run with -v to see its log)")
		case <-ctx.Done():
			return fmt.Errorf("rollout: haproxy did not start: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Addr is the address clients connect to.
func (h *haproxy) Addr() string { return h.addr }

// Name describes the balancer for the report.
func (h *haproxy) Name() string {
	return fmt.Sprintf("HAProxy (mode tcp, GET /readyz every %v, fall 2 rise 2)", DefaultHAProxyCheckInterval)
}

// InRotation reports whether HAProxy currently considers copy i UP.
func (h *haproxy) InRotation(_ context.Context, i int) (bool, error) {
	out, err := h.command("show stat")
	if err != nil {
		return false, err
	}
	status, err := serverStatus(out, fmt.Sprintf("copy%d", i))
	if err != nil {
		return false, err
	}
	// "UP", or "UP 1/2" while going down: both still take new connections.
	return strings.HasPrefix(status, "UP"), nil
}

// serverStatus finds the status column of server name in `show stat` CSV.
func serverStatus(csvText, name string) (string, error) {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(csvText, "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return "", fmt.Errorf("rollout: haproxy show stat: %v", err)
	}
	col := -1
	for i, h := range rows[0] {
		if h == "status" {
			col = i
		}
	}
	for _, row := range rows[1:] {
		if len(row) > col && col >= 0 && len(row) > 1 && row[1] == name {
			return row[col], nil
		}
	}
	return "", fmt.Errorf("rollout: haproxy show stat: no server %s", name)
}

// command sends one command to the stats socket and returns the answer.
func (h *haproxy) command(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", h.socket, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	var b strings.Builder
	_, err = io.Copy(&b, bufio.NewReader(c))
	return b.String(), err
}

// Close stops haproxy (SIGTERM: hard stop, established connections
// closed) and waits for it to exit; SIGKILL after 10 s. Call it once.
func (h *haproxy) Close() error {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(10 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.exited
	}
	return nil
}
