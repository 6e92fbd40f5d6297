package service_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/examples/internal/selfsigned"
	"github.com/lameduck/lameduck/examples/internal/service"
	"github.com/lameduck/lameduck/examples/internal/store"
	"github.com/lameduck/lameduck/readiness"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func noEnv(string) (string, bool) { return "", false }

func loopbackArgs(t *testing.T) []string {
	return []string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-data", t.TempDir()}
}

func TestMainExitCodes(t *testing.T) {
	serveErr := errors.New("boom")
	tests := []struct {
		name   string
		args   []string
		serve  func(*service.Service) error
		code   int
		stderr string
	}{
		{name: "help", args: []string{"-h"}, code: 0, stderr: "-strategy"},
		{name: "bad strategy", args: []string{"-strategy", "yolo"}, code: 2, stderr: `svc: cli: bad usage: -strategy "yolo"`},
		{name: "bad flag", args: []string{"-nope"}, code: 2, stderr: "flag provided but not defined"},
		{name: "data dir is a file", args: []string{"-data", "FILE"}, code: 1, stderr: "svc: store: "},
		{name: "serve fails", serve: func(svc *service.Service) error { return errors.Join(serveErr, svc.Abort()) }, code: 1, stderr: "boom"},
		{name: "clean", serve: func(svc *service.Service) error { return svc.Abort() }, code: 0, stderr: "msg=exit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(loopbackArgs(t), tt.args...)
			for i, a := range args {
				if a == "FILE" {
					args[i] = filepath.Join(t.TempDir(), "file")
					require.NoError(t, os.WriteFile(args[i], nil, 0o644))
				}
			}
			var stderr strings.Builder
			serve := tt.serve
			if serve == nil {
				serve = func(*service.Service) error { t.Error("serve called"); return nil }
			}
			assert.Equal(t, tt.code, service.Main("svc", args, noEnv, &stderr, serve))
			assert.Contains(t, stderr.String(), tt.stderr)
		})
	}
}

func TestSetupFailsOnBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	dir := t.TempDir()
	_, err = service.Setup("svc", []string{"-addr", "127.0.0.1:0", "-admin-addr", ln.Addr().String(), "-data", dir}, noEnv, io.Discard)
	require.ErrorContains(t, err, "listen -admin-addr")
	// Setup closed the store again: the journal was flushed and closed.
	_, _, err = store.Count(dir)
	require.NoError(t, err)
}

// TestAdminServerAndAnnounce serves a service's admin server in process
// and checks the listening line, the probes and the extra routes.
func TestAdminServerAndAnnounce(t *testing.T) {
	var stderr syncBuffer
	svc, err := service.Setup("svc", loopbackArgs(t), noEnv, &stderr)
	require.NoError(t, err)
	var probe readiness.Probe
	prestop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "prestop") })
	admin := svc.AdminServer(&probe, map[string]http.Handler{"/prestop": prestop})
	served := make(chan error, 1)
	go func() { served <- service.IgnoreClosed(admin.Serve(svc.AdminListener())) }()
	probe.SetReady()
	svc.Announce()

	line := stderr.String()
	require.True(t, strings.HasPrefix(line, "listening addr=127.0.0.1:"), line)
	addr := strings.TrimSuffix(line[strings.Index(line, "admin=")+len("admin="):], "\n")
	assert.Equal(t, svc.AdminListener().Addr().String(), addr)

	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for path, want := range map[string]int{"/readyz": 200, "/livez": 200, "/startupz": 200, "/prestop": 200, "/nope": 404} {
		resp, err := client.Get("http://" + addr + path)
		require.NoError(t, err, path)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, path)
	}
	require.NoError(t, admin.Close())
	require.NoError(t, <-served, "a server closed on purpose is no failure")
	require.NoError(t, svc.Listener.Close())
	ctx := context.Background()
	require.NoError(t, errors.Join(svc.Store.CloseDB(ctx), svc.Store.CloseJournal(ctx)))
}

// TestSetupTLS: Setup loads the pair once, before binding anything, and a
// pair it cannot load fails the start with the flags named; without the
// flags TLS stays nil and the services serve plaintext.
func TestSetupTLS(t *testing.T) {
	cert, err := selfsigned.Write(t.TempDir())
	require.NoError(t, err)

	plain, err := service.Setup("svc", loopbackArgs(t), noEnv, io.Discard)
	require.NoError(t, err)
	assert.Nil(t, plain.TLS)
	require.NoError(t, plain.Abort())

	secure, err := service.Setup("svc", append(loopbackArgs(t), "-tls-cert", cert.CertFile, "-tls-key", cert.KeyFile), noEnv, io.Discard)
	require.NoError(t, err)
	require.NotNil(t, secure.TLS)
	assert.Len(t, secure.TLS.Certificates, 1)
	assert.Empty(t, secure.TLS.NextProtos, "ALPN is the service's choice")
	require.NoError(t, secure.Abort())

	// Swapped files: neither parses as what it should be.
	_, err = service.Setup("svc", append(loopbackArgs(t), "-tls-cert", cert.KeyFile, "-tls-key", cert.CertFile), noEnv, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "service: -tls-cert")
	_, err = service.Setup("svc", append(loopbackArgs(t), "-tls-cert", filepath.Join(t.TempDir(), "missing.pem"), "-tls-key", cert.KeyFile), noEnv, io.Discard)
	assert.ErrorIs(t, err, os.ErrNotExist)
}
