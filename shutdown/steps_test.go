package shutdown_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
)

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func TestCloser(t *testing.T) {
	errClose := errors.New("close failed")
	require.ErrorIs(t, shutdown.Closer(closerFunc(func() error { return errClose }))(context.Background()), errClose)
	require.NoError(t, shutdown.Closer(closerFunc(func() error { return nil }))(context.Background()))
}
