package shutdown_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/lameduck/lameduck/shutdown"
)

type journal struct{}

func (journal) Close() error { fmt.Println("journal flushed"); return nil }

func Example() {
	seq, err := shutdown.New(
		shutdown.FromEnv(os.LookupEnv), // SHUTDOWN_GRACE_PERIOD=45s, ...
		shutdown.WithPropagationDelay(10*time.Millisecond),
		shutdown.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Steps run after the delay, in the order they were added.
	seq.Add("http", func(ctx context.Context) error {
		fmt.Println("http drained") // in a real program: an httpdrain step
		return nil
	})
	seq.Add("journal", shutdown.Closer(journal{}))

	seq.Trigger("example") // in a real program: SIGTERM or /prestop
	err = seq.Wait()
	tl := seq.Timeline()
	fmt.Println(err, tl.Source, len(tl.Steps))
	// Output:
	// http drained
	// journal flushed
	// <nil> example 2
}

func ExampleNew_invalid() {
	_, err := shutdown.New(shutdown.FromEnv(func(key string) (string, bool) {
		return map[string]string{"SHUTDOWN_GRACE_PERIOD": "5", "SHUTDOWN_PROPAGATION_DELAY": "5s"}[key], strings.HasPrefix(key, "SHUTDOWN_")
	}))
	fmt.Println(err)
	// Output:
	// shutdown: propagation delay 5s + safety margin 2s does not fit in grace period 5s: shorten the delay, or raise terminationGracePeriodSeconds and the grace period together
}
