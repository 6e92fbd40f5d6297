package service

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/lameduck/lameduck/examples/internal/cli"
)

// Main is the body of an example service's main: it calls [Setup], then
// serve, and returns the exit code: 0 after a clean shutdown (or -h), 2 for
// a bad command line, 1 for any other error, which it logs.
func Main(name string, args []string, lookupEnv func(string) (string, bool), stderr io.Writer, serve func(*Service) error) int {
	svc, err := Setup(name, args, lookupEnv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		if errors.Is(err, cli.ErrUsage) {
			return 2
		}
		return 1
	}
	if err := serve(svc); err != nil {
		svc.Log.Error("exit", "err", err)
		return 1
	}
	svc.Log.Info("exit")
	return 0
}
