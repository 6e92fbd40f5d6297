package netlab

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLab runs itself again in a private network namespace, where it
// builds a lab of two nodes: each node reaches the lab from its own
// address, and after Close nothing of it is left.
func TestLab(t *testing.T) {
	fresh, err := InFreshNetNS()
	require.NoError(t, err)
	if !fresh {
		if os.Geteuid() != 0 {
			t.Skip("netlab: needs root")
		}
		if _, err := exec.LookPath("unshare"); err != nil {
			t.Skip("netlab: needs unshare")
		}
		exe, err := os.Executable()
		require.NoError(t, err)
		out, err := exec.Command("unshare", "--net", "--", exe, "-test.run=^TestLab$", "-test.v").CombinedOutput()
		t.Logf("in a private namespace:\n%s", out)
		require.NoError(t, err)
		require.Contains(t, string(out), "--- PASS: TestLab")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := New(ctx, 2, t.Logf)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", netip.AddrPortFrom(Gateway, 0).String())
	require.NoError(t, err)
	defer ln.Close()
	for _, n := range lab.Nodes {
		c, err := n.Dial(ctx, "tcp", ln.Addr().String())
		require.NoError(t, err, n.Name)
		s, err := ln.Accept()
		require.NoError(t, err)
		from := s.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
		assert.Equal(t, n.Addr, from, "%s dials from its own address", n.Name)
		s.Close()
		c.Close()
	}
	// A node's namespace is not the lab's: the bridge is not there.
	argv := lab.Nodes[0].Cmd("ip", "-o", "link")
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	require.NoError(t, err)
	assert.NotContains(t, string(out), bridge)
	assert.Contains(t, string(out), "eth0")
	holders := []string{lab.Nodes[0].NetNS, lab.Nodes[1].NetNS}
	require.NoError(t, lab.Close())
	for _, h := range holders {
		_, err := os.Stat(h)
		assert.True(t, os.IsNotExist(err), "%s: holder still there", h)
	}
	out, _ = exec.Command("ip", "-o", "link").CombinedOutput()
	assert.False(t, strings.Contains(string(out), bridge) || strings.Contains(string(out), "ve-node"), "links left: %s", out)
}
