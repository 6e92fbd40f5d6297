package cli_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/examples/internal/cli"
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
	}
	fromEnv := cli.Config{
		Addr: "127.0.0.1:1", AdminAddr: "127.0.0.1:2", GracePeriod: 45 * time.Second,
		Delay: 1500 * time.Millisecond, DataDir: "/tmp/d", Strategy: cli.None,
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
			args: []string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-grace", "4s", "-delay", "0s", "-data", "x", "-strategy", "shutdown"},
			env:  allEnv,
			want: cli.Config{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", GracePeriod: 4 * time.Second, DataDir: "x", Strategy: cli.Shutdown},
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

func TestParseHelp(t *testing.T) {
	var out strings.Builder
	_, err := cli.Parse("svc", []string{"-h"}, env(nil), &out)
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, name := range []string{"-addr", "-admin-addr", "-grace", "-delay", "-data", "-strategy", "$SHUTDOWN_GRACE_PERIOD"} {
		assert.Contains(t, out.String(), name)
	}
}
