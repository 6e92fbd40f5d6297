package cli_test

import (
	"fmt"
	"os"

	"github.com/lameduck/lameduck/examples/internal/cli"
)

func ExampleParse() {
	env := map[string]string{"SHUTDOWN_GRACE_PERIOD": "45", "STRATEGY": "none"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	// -strategy on the command line wins over $STRATEGY.
	cfg, err := cli.Parse("http", []string{"-strategy", "shutdown", "-delay", "10s"}, lookup, os.Stderr)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Addr, cfg.AdminAddr, cfg.GracePeriod, cfg.Delay, cfg.DataDir, cfg.Strategy)
	// Output: :8080 :9090 45s 10s ./.data shutdown
}
