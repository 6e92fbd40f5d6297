package cli_test

import (
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/examples/internal/cli"
	"github.com/lameduck/lameduck/shutdown"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := kv[k]
		return v, ok
	}
}

func TestParse(t *testing.T) {
	defaults := cli.Config{
		Addr: ":8080", AdminAddr: ":9090", GracePeriod: 30 * time.Second,
		Delay: 5 * time.Second, DataDir: "./.data", Strategy: cli.Lameduck,
	}
	allEnv := map[string]string{
		"ADDR": "127.0.0.1:1", "ADMIN_ADDR": "127.0.0.1:2", "SHUTDOWN_GRACE_PERIOD": "45",
		"SHUTDOWN_PROPAGATION_DELAY": "1500ms", "DATA_DIR": "/tmp/d", "STRATEGY": "none",
		"TLS_CERT_FILE": "/tls/env.crt", "TLS_KEY_FILE": "/tls/env.key",
		"MAX_CONNECTION_AGE": "5m", "STREAM_END_WINDOW": "2",
	}
	fromEnv := cli.Config{
		Addr: "127.0.0.1:1", AdminAddr: "127.0.0.1:2", GracePeriod: 45 * time.Second,
		Delay: 1500 * time.Millisecond, DataDir: "/tmp/d", Strategy: cli.None,
		TLSCert: "/tls/env.crt", TLSKey: "/tls/env.key",
		MaxConnAge: 5 * time.Minute, StreamEndWindow: 2 * time.Second,
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want cli.Config
	}{
		{name: "defaults", want: defaults},
		{name: "environment", env: allEnv, want: fromEnv},
		{name: "empty variables are unset", env: map[string]string{"ADDR": "", "SHUTDOWN_GRACE_PERIOD": ""}, want: defaults},
		{
			name: "flags win over environment",
			args: []string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-grace", "4s", "-delay", "0s", "-data", "x", "-strategy", "shutdown", "-tls-cert", "a.crt", "-tls-key", "a.key", "-max-conn-age", "0", "-stream-end-window", "500ms"},
			env:  allEnv,
			want: cli.Config{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", GracePeriod: 4 * time.Second, DataDir: "x", Strategy: cli.Shutdown, TLSCert: "a.crt", TLSKey: "a.key", StreamEndWindow: 500 * time.Millisecond},
		},
		{
			name: "tls from flags",
			args: []string{"-tls-cert", "a.crt", "-tls-key", "a.key"},
			want: func() cli.Config { c := defaults; c.TLSCert, c.TLSKey = "a.crt", "a.key"; return c }(),
		},
		{
			// Each file is its own setting: a flag replaces only its own
			// variable, and the pair is complete.
			name: "tls cert from flag, key from environment",
			args: []string{"-tls-cert", "a.crt"},
			env:  map[string]string{"TLS_KEY_FILE": "/tls/env.key"},
			want: func() cli.Config { c := defaults; c.TLSCert, c.TLSKey = "a.crt", "/tls/env.key"; return c }(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cli.Parse("svc", tt.args, env(tt.env), io.Discard)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "unknown flag", args: []string{"-nope"}, want: "flag provided but not defined"},
		{name: "bad flag duration", args: []string{"-grace", "soon"}, want: "invalid value"},
		{name: "bad env duration", env: map[string]string{"SHUTDOWN_PROPAGATION_DELAY": "soon"}, want: `$SHUTDOWN_PROPAGATION_DELAY="soon"`},
		{name: "zero grace", args: []string{"-grace", "0s"}, want: "-grace 0s must be positive"},
		{name: "negative delay", args: []string{"-delay", "-1s"}, want: "-delay -1s must not be negative"},
		{name: "unknown strategy", env: map[string]string{"STRATEGY": "yolo"}, want: `-strategy "yolo"`},
		{name: "positional argument", args: []string{"extra"}, want: "unexpected argument"},
		{name: "tls cert without key", args: []string{"-tls-cert", "a.crt"}, want: `-tls-cert "a.crt" without -tls-key`},
		{name: "tls key without cert", args: []string{"-tls-key", "a.key"}, want: `-tls-key "a.key" without -tls-cert`},
		{name: "tls env cert without key", env: map[string]string{"TLS_CERT_FILE": "e.crt"}, want: `-tls-cert "e.crt" without -tls-key ($TLS_KEY_FILE)`},
		{name: "negative max conn age", args: []string{"-max-conn-age", "-1m"}, want: "-max-conn-age -1m0s: want 0 (off) or at least 1ms"},
		{name: "max conn age without a unit", env: map[string]string{"MAX_CONNECTION_AGE": "300ns"}, want: "-max-conn-age 300ns: want 0 (off) or at least 1ms"},
		{name: "bad env max conn age", env: map[string]string{"MAX_CONNECTION_AGE": "often"}, want: `$MAX_CONNECTION_AGE="often"`},
		{name: "negative stream end window", env: map[string]string{"STREAM_END_WINDOW": "-1s"}, want: "-stream-end-window -1s must not be negative"},
		{name: "tls empty key flag clears env", args: []string{"-tls-key", ""}, env: map[string]string{"TLS_CERT_FILE": "e.crt", "TLS_KEY_FILE": "e.key"}, want: "without -tls-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			_, err := cli.Parse("svc", tt.args, env(tt.env), &out)
			require.ErrorIs(t, err, cli.ErrUsage)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestConfigTLS(t *testing.T) {
	plain, err := cli.Parse("svc", nil, env(nil), io.Discard)
	require.NoError(t, err)
	assert.False(t, plain.TLS(), "no flags: plaintext")
	secure, err := cli.Parse("svc", []string{"-tls-cert", "a.crt", "-tls-key", "a.key"}, env(nil), io.Discard)
	require.NoError(t, err)
	assert.True(t, secure.TLS(), "both files: TLS")
}

func TestParseHelp(t *testing.T) {
	var out strings.Builder
	_, err := cli.Parse("svc", []string{"-h"}, env(nil), &out)
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, name := range []string{"-addr", "-admin-addr", "-grace", "-delay", "-data", "-strategy", "-tls-cert", "-tls-key", "$SHUTDOWN_GRACE_PERIOD", "$TLS_CERT_FILE", "$TLS_KEY_FILE"} {
		assert.Contains(t, out.String(), name)
	}
}

// TestParseDurationAgreesWithFromEnv: every value the flags' environment
// accepts, package shutdown's FromEnv reads as the same duration, and
// every value one rejects, the other rejects too.
func TestParseDurationAgreesWithFromEnv(t *testing.T) {
	for _, v := range []string{"45", "45s", "1m30s", "1500ms", "9223372036", "9223372037", "10000000000",
		"36028797018963998", "99999999999999999999", "-5", "thirty", "1.5", "+5", "1e3", "9223372036854775807ns"} {
		d, err := cli.ParseDuration(v)
		seq, newErr := shutdown.New(shutdown.FromEnv(env(map[string]string{"SHUTDOWN_GRACE_PERIOD": v})),
			shutdown.WithPropagationDelay(0), shutdown.WithSafetyMargin(0), shutdown.WithSignals(),
			shutdown.WithLogger(slog.New(slog.DiscardHandler)))
		switch {
		case err != nil:
			require.Error(t, newErr, v)
			assert.Contains(t, newErr.Error(), "SHUTDOWN_GRACE_PERIOD=", v)
		case d <= 0:
			require.Error(t, newErr, v)
			assert.Contains(t, newErr.Error(), "is not positive", v)
		default:
			require.NoError(t, newErr, v)
			seq.Trigger("test")
			require.NoError(t, seq.Wait())
			tl := seq.Timeline()
			assert.Equal(t, d, tl.Deadline.Sub(tl.TriggeredAt), v)
		}
	}
}
