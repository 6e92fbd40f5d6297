package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

// copySpec is how to start one copy of a service; replacements use the
// same spec, so the same ports and the same data directory.
type copySpec struct {
	Bin      string
	Strategy string
	Grace    time.Duration
	Delay    time.Duration
	DataDir  string
	Addr     string // "127.0.0.1:0" for the first start
	Admin    string
	Log      io.Writer // the copy's stderr goes here too; may be nil
	TLSCert  string    // with TLSKey: -tls-cert and -tls-key, the copy serves TLS
	TLSKey   string
}

// instance is one running copy.
type instance struct {
	endpoint
	proc shutdowntest.Process
	tail *lineLog
}

// startCopy starts the binary and waits until it printed its listening
// line and its /readyz answers 200, or 30 s.
func startCopy(ctx context.Context, spec copySpec) (*instance, error) {
	listening := make(chan endpoint, 1)
	tail := &lineLog{out: spec.Log, onLine: func(line string) {
		if ep, ok := parseListening(line); ok {
			select {
			case listening <- ep:
			default:
			}
		}
	}}
	cmd := exec.Command(spec.Bin,
		"-addr", spec.Addr, "-admin-addr", spec.Admin,
		"-grace", spec.Grace.String(), "-delay", spec.Delay.String(),
		"-data", spec.DataDir, "-strategy", spec.Strategy)
	if spec.TLSCert != "" {
		cmd.Args = append(cmd.Args, "-tls-cert", spec.TLSCert, "-tls-key", spec.TLSKey)
	}
	cmd.Stdout, cmd.Stderr = tail, tail
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("rollout: start %s: %w", spec.Bin, err)
	}
	in := &instance{proc: shutdowntest.Command(cmd), tail: tail}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case in.endpoint = <-listening:
	case <-in.proc.Exited():
		return nil, fmt.Errorf("rollout: %s exited at start (code %d): %s", spec.Bin, in.proc.ExitCode(), tail.Last())
	case <-ctx.Done():
		in.kill()
		return nil, fmt.Errorf("rollout: %s printed no listening line: %w: %s", spec.Bin, ctx.Err(), tail.Last())
	}
	if err := waitReady(ctx, in.Admin, in.proc.Exited()); err != nil {
		in.kill()
		return nil, fmt.Errorf("%w: %s", err, tail.Last())
	}
	return in, nil
}

// kill ends a copy that failed to start, and waits for it.
func (in *instance) kill() {
	_ = in.proc.Kill()
	<-in.proc.Exited()
}

// parseListening reads "listening addr=HOST:PORT admin=HOST:PORT" out of a
// log line (plain or slog text/JSON output).
func parseListening(line string) (endpoint, bool) {
	if !strings.Contains(line, "listening") {
		return endpoint{}, false
	}
	var ep endpoint
	for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == ',' || r == '{' || r == '}' }) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			k, v, ok = strings.Cut(f, ":")
			k = strings.Trim(k, `"`)
		}
		v = strings.Trim(v, `"`)
		switch {
		case !ok:
		case k == "addr":
			ep.Addr = v
		case k == "admin":
			ep.Admin = v
		}
	}
	return ep, ep.Addr != "" && ep.Admin != ""
}

// waitReady polls GET /readyz until 200, the process exits, or ctx ends.
func waitReady(ctx context.Context, admin string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	for {
		if probe(ctx, client, admin) {
			return nil
		}
		select {
		case <-exited:
			return errors.New("rollout: copy exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("rollout: copy at %s not ready: %w", admin, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freePort returns 127.0.0.1:PORT for a port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("rollout: pick a port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// lineLog is a child's stdout/stderr: each complete line goes to onLine
// and to out, and the last few lines are kept for error messages.
type lineLog struct {
	out    io.Writer
	onLine func(string)

	mu   sync.Mutex
	buf  []byte
	last []string
}

// lineLogKeep is how many lines Last returns.
const lineLogKeep = 5

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		l.onLine(line)
		if l.out != nil {
			fmt.Fprintln(l.out, line)
		}
		l.last = append(l.last, line)
		if len(l.last) > lineLogKeep {
			l.last = l.last[1:]
		}
	}
}

// Last returns the last lines written, joined.
func (l *lineLog) Last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.last, " | ")
}
