package rig

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestUnescapeMount(t *testing.T) {
	assert.Equal(t, "/tmp/a b", unescapeMount(`/tmp/a\040b`))
	assert.Equal(t, "/tmp/plain", unescapeMount("/tmp/plain"))
}

func TestListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	assert.Equal(t, []int{port}, listening([]int{port}))
	ln.Close()
	assert.Empty(t, listening([]int{port}))
}
