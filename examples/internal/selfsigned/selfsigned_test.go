package selfsigned_test

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/examples/internal/selfsigned"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestWrite serves the written pair on loopback and checks that a client
// trusting only the pool completes a handshake for each name the
// certificate claims, and that a client with the system roots does not.
func TestWrite(t *testing.T) {
	c, err := selfsigned.Write(t.TempDir())
	require.NoError(t, err)
	pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	require.NoError(t, err)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2"}})
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()

	for _, name := range []string{"localhost", "127.0.0.1"} {
		cfg := c.ClientConfig("h2")
		cfg.ServerName = name
		conn, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		require.NoError(t, err, name)
		assert.Equal(t, "h2", conn.ConnectionState().NegotiatedProtocol)
		conn.Close()
	}
	_, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "localhost"})
	var unknown x509.UnknownAuthorityError
	assert.ErrorAs(t, err, &unknown, "not trusted without the pool")
}
