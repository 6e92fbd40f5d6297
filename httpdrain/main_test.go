package httpdrain_test

import (
	"os"
	"testing"

	"github.com/lameduck/lameduck/internal/testmain"
)

func TestMain(m *testing.M) {
	if os.Getenv(idleClientEnv) != "" {
		os.Exit(runIdleClient())
	}
	testmain.Run(m)
}
