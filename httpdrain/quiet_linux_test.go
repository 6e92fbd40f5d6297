package httpdrain

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connPair returns both ends of a loopback TCP connection, closed when the
// test ends.
func connPair(t testing.TB) (client, server net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { server.Close() })
	return client, server
}

// exchange has the client send a request and the server read it and
// answer, as on a keep-alive connection that then goes idle.
func exchange(t testing.TB, client, server net.Conn) {
	_, err := client.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	require.NoError(t, err)
	_, err = server.Read(make([]byte, 64))
	require.NoError(t, err)
	_, err = server.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
	require.NoError(t, err)
	_, err = client.Read(make([]byte, 64))
	require.NoError(t, err)
}

// TestInspect: inspect tells whether a request may be arriving: nothing
// received on a new connection, bytes unread, nothing since the response
// on an idle one, bytes arriving after it.
func TestInspect(t *testing.T) {
	never, neverServer := connPair(t)
	_ = never
	fresh, freshServer := connPair(t)
	idle, idleServer := connPair(t)
	arriving, arrivingServer := connPair(t)
	exchange(t, idle, idleServer)
	exchange(t, arriving, arrivingServer)

	_, err := fresh.Write([]byte("GET / HTTP/1.1\r\n"))
	require.NoError(t, err)
	k, ok := inspect(freshServer)
	require.True(t, ok)
	assert.True(t, k.unread, "bytes just received, unread")
	assert.Positive(t, k.received)

	k, ok = inspect(neverServer)
	require.True(t, ok)
	assert.Equal(t, sockState{}, k, "nothing received")

	k, ok = inspect(idleServer)
	require.True(t, ok)
	assert.False(t, k.unread)
	assert.False(t, k.recvSinceSend)

	_, err = arriving.Write([]byte("POST / HTTP/1.1\r\n"))
	require.NoError(t, err)
	k, ok = inspect(arrivingServer)
	require.True(t, ok)
	// Within the response's jiffy, tcp_info's times cannot tell: the
	// unread bytes do.
	assert.True(t, k.unread, "a request arriving on an idle connection")
}
