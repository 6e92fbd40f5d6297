package httpdrain

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDiagDumpMatchesInspect: the netlink dump tells of each connection
// of a port what inspect tells of it, for a connection with nothing
// received, one with unread bytes, and one whose bytes were read, over
// IPv4 and IPv6.
func TestDiagDumpMatchesInspect(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			addr := map[string]string{"tcp4": "127.0.0.1:0", "tcp6": "[::1]:0"}[network]
			ln, err := net.Listen(network, addr)
			if err != nil {
				t.Skipf("no %s loopback: %v", network, err)
			}
			defer ln.Close()
			var servers []net.Conn
			for i := range 3 {
				client, err := net.Dial(network, ln.Addr().String())
				require.NoError(t, err)
				defer client.Close()
				server, err := ln.Accept()
				require.NoError(t, err)
				defer server.Close()
				servers = append(servers, server)
				if i > 0 {
					_, err = client.Write([]byte("GET / HTTP/1.1\r\n"))
					require.NoError(t, err)
				}
				if i == 2 {
					_, err = server.Read(make([]byte, 64))
					require.NoError(t, err)
				}
			}
			states, err := diagDump(uint16(ln.Addr().(*net.TCPAddr).Port))
			require.NoError(t, err)
			assert.Len(t, states, 3, "the server's connections, not the clients'")
			for i, c := range servers {
				k, ok := keyOf(c)
				require.True(t, ok)
				got, found := states[k]
				require.True(t, found, "connection %d (%v) in the dump %v", i, k, states)
				want, ok := inspect(c)
				require.True(t, ok)
				assert.Equal(t, want, got, "connection %d", i)
			}
			assert.True(t, states[mustKey(t, servers[1])].unread)
			assert.False(t, states[mustKey(t, servers[2])].unread)
			assert.Zero(t, states[mustKey(t, servers[0])].received)
		})
	}
}

func mustKey(t *testing.T, c net.Conn) diagKey {
	k, ok := keyOf(c)
	require.True(t, ok)
	return k
}
