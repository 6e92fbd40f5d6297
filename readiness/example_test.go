package readiness_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/lameduck/lameduck/readiness"
)

func Example() {
	triggered := make(chan struct{}) // in a real program: seq.Triggered()

	var probe readiness.Probe
	probe.DrainWhen(triggered)
	admin := http.NewServeMux()
	probe.Register(admin) // /readyz, /livez, /startupz

	fmt.Println(probe.State())
	probe.SetReady() // start-up complete
	fmt.Println(probe.State())
	close(triggered) // the shutdown sequence was triggered
	fmt.Println(probe.State(), probe.Check(context.Background()))
	// Output:
	// starting
	// ready
	// draining readiness: not ready: draining
}
