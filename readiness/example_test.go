package readiness_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/lameduck/lameduck/readiness"
)

// sequence stands in for *shutdown.Sequence.
type sequence chan struct{}

func (s sequence) Triggered() <-chan struct{} { return s }

func Example() {
	seq := make(sequence) // in a real program: a *shutdown.Sequence

	probe := readiness.New(seq)
	admin := http.NewServeMux()
	probe.Register(admin) // /readyz, /servingz, /livez, /startupz

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
