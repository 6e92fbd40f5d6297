package main

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireHAProxy returns the haproxy binary, or skips the test when it is
// not installed, except in CI (CI=true), where .ci/run installs it.
func requireHAProxy(t *testing.T) string {
	t.Helper()
	bin, err := haproxyPath()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("haproxy is required in CI: %v", err)
		}
		t.Skipf("haproxy is not installed (apt-get install haproxy): %v", err)
	}
	return bin
}

func TestHAProxyUnreadyBackendGetsNoNewConnections(t *testing.T) {
	bin := requireHAProxy(t)
	a, b := startNameServer(t, "a"), startNameServer(t, "b")
	lb, err := startHAProxy(context.Background(), bin, t.TempDir(), []endpoint{a.endpoint(), b.endpoint()}, nil)
	require.NoError(t, err)
	defer lb.Close()

	checkUnreadyLeavesRotation(t, lb, a, b)
}

func TestServerStatus(t *testing.T) {
	const stat = "# pxname,svname,qcur,status,weight\n" +
		"traffic,FRONTEND,,OPEN,\n" +
		"copies,copy0,0,UP,1\n" +
		"copies,copy1,0,DOWN 1/2,1\n" +
		"copies,BACKEND,0,UP,1\n"
	for _, tc := range []struct {
		name, want string
		err        bool
	}{
		{name: "copy0", want: "UP"},
		{name: "copy1", want: "DOWN 1/2"},
		{name: "copy9", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := serverStatus(stat, tc.name)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
