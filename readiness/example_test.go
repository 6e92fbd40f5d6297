package readiness_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/lameduck/lameduck/readiness"
	"github.com/lameduck/lameduck/shutdown"
)

// sequence stands in for *shutdown.Sequence.
type sequence chan struct{}

func (s sequence) Triggered() <-chan struct{} { return s }

func Example() {
	seq := make(sequence) // in a real program: a *shutdown.Sequence

	probe := readiness.New(seq)
	admin := http.NewServeMux()
	admin.Handle("/", probe) // /readyz, /servingz, /livez, /startupz

	fmt.Println(probe.State())
	probe.SetReady() // start-up complete
	fmt.Println(probe.State())
	close(seq) // the shutdown sequence was triggered
	fmt.Println(probe.State(), probe.Check(context.Background()))
	// Output:
	// starting
	// ready
	// lame duck readiness: not ready: lame duck
}

// The kubelet's readiness probe reads /servingz, balancers that probe the
// pods read /readyz: after the pod's deletion (its preStop hook, or
// SIGTERM), /readyz fails at once while /servingz keeps passing until the
// drains start.
func ExampleProbe_ServeHTTP() {
	seq, err := shutdown.New(shutdown.WithPropagationDelay(10*time.Millisecond),
		shutdown.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	probe := readiness.New(seq) // in a program, served with seq.ServeAdmin(":9090", probe)
	get := func(path string) int {
		rec := httptest.NewRecorder()
		probe.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	probe.SetReady()
	fmt.Println("ready:", get("/readyz"), get("/servingz"))
	done := make(chan error, 1)
	go func() { done <- seq.Wait() }() // in main, after start-up
	prestop := httptest.NewRequest(http.MethodGet, "/prestop", nil)
	go seq.PrestopHandler().ServeHTTP(httptest.NewRecorder(), prestop) // the pod is deleted
	<-seq.Triggered()
	fmt.Println("lame duck:", get("/readyz"), get("/servingz"))
	<-seq.DrainStarted()
	fmt.Println("draining:", get("/readyz"), get("/servingz"))
	<-done
	// Output:
	// ready: 200 200
	// lame duck: 503 200
	// draining: 503 503
}
