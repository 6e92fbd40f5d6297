package loadtest

import (
	"testing"

	"github.com/lameduck/lameduck/internal/testmain"
)

func TestMain(m *testing.M) { testmain.Run(m) }
