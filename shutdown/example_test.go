package shutdown_test

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/lameduck/lameduck/shutdown"
)

type journal struct{}

func (journal) Close() error { fmt.Println("journal flushed"); return nil }

func Example() {
	seq, err := shutdown.New(
		shutdown.WithPropagationDelay(10*time.Millisecond), // seconds in production
		shutdown.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // ":8080"
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	// The server drains after the delay; the journal is flushed after it.
	seq.Serve("http", func() error { return srv.Serve(ln) }, httpdrain.New(srv, seq).Drain)
	seq.AfterDrain("journal", shutdown.Closer(journal{}))

	seq.Trigger("example") // in a real program: SIGTERM or /prestop
	err = seq.Wait()
	tl := seq.Timeline()
	for _, st := range tl.Steps {
		fmt.Println(st.Phase, st.Name, st.Err)
	}
	fmt.Println(err, tl.Source)
	// Output:
	// journal flushed
	// drain http <nil>
	// after-drain journal <nil>
	// <nil> example
}

func ExampleNew_invalid() {
	_, err := shutdown.New(shutdown.FromEnv(func(key string) (string, bool) {
		return map[string]string{"SHUTDOWN_GRACE_PERIOD": "5", "SHUTDOWN_PROPAGATION_DELAY": "5s"}[key], strings.HasPrefix(key, "SHUTDOWN_")
	}))
	fmt.Println(err)
	// Output:
	// shutdown: propagation delay 5s + safety margin 2s does not fit in grace period 5s: shorten the delay, or raise terminationGracePeriodSeconds and the grace period together
}
