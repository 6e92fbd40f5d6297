package shutdown_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/httpdrain"
	"github.com/lameduck/lameduck/readiness"
	"github.com/lameduck/lameduck/shutdown"
)

// This is a whole service, as in the README: an admin listener with the
// probes and /prestop, an HTTP API and a gRPC server that drain together,
// a worker that consumes the jobs the API accepts, and a database closed
// after them. Here a GET /servingz and a GET /prestop stand in for the
// kubelet's readiness probe and preStop hook, and the listeners are on
// loopback.
func Example_service() {
	if err := run(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// pre-drain deregister <nil>
	// drain http <nil>
	// drain grpc <nil>
	// drain consumer <nil>
	// close db <nil>
	// close admin <nil>
	// triggered by prestop, exit 0
}

func run() error {
	seq, err := shutdown.New(
		shutdown.FromEnv(os.LookupEnv),                     // SHUTDOWN_GRACE_PERIOD=30s ...
		shutdown.WithPropagationDelay(50*time.Millisecond), // seconds in production
		shutdown.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return err
	}
	probe := readiness.New(seq) // /readyz fails at the trigger
	admin := http.NewServeMux() // /readyz /servingz /livez /startupz /prestop
	admin.Handle("/", probe)
	admin.Handle("/prestop", seq.PrestopHandler())
	adminLn, err := net.Listen("tcp", "127.0.0.1:0") // ":9090"
	if err != nil {
		return err
	}
	adminSrv := &http.Server{Handler: admin}
	go func() { seq.Fail(ignoreClosed(adminSrv.Serve(adminLn))) }() // up to the last step

	jobs := make(chan string, 1024) // filled by the API, emptied by the consumer
	api := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jobs <- r.URL.Path // accepted: it must not be lost
		w.WriteHeader(http.StatusCreated)
	})}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0") // ":8080"
	if err != nil {
		return err
	}
	seq.Serve("http", func() error { return api.Serve(apiLn) }, httpdrain.New(api, seq).Drain)

	rpc := grpcdrain.NewServer(seq)                // health service included; register yours on rpc
	rpcLn, err := net.Listen("tcp", "127.0.0.1:0") // ":8081"
	if err != nil {
		return err
	}
	seq.Serve("grpc", func() error { return rpc.Serve(rpcLn) }, rpc.Drain)

	seq.BeforeDrain("deregister", func(context.Context) error { return nil }) // leave a registry
	seq.Go("consumer", func(ctx context.Context) error { return consume(ctx, jobs) },
		shutdown.StopAfter("http")) // stops once the handlers that fill jobs are done
	seq.Add("db", shutdown.Closer(io.NopCloser(nil))) // the pool, after the drains
	seq.Add("admin", shutdown.Closer(adminSrv))       // probes answered to the end
	probe.SetReady()

	go kubelet("http://" + adminLn.Addr().String())
	err = seq.Wait() // blocks until the sequence is done
	tl := seq.Timeline()
	for _, st := range tl.Steps {
		fmt.Println(st.Phase, st.Name, st.Err)
	}
	fmt.Printf("triggered by %s, exit %d\n", tl.Source, map[bool]int{true: 0, false: 1}[err == nil])
	return nil
}

// consume handles jobs until ctx is cancelled, then the jobs still queued.
func consume(ctx context.Context, jobs <-chan string) error {
	for {
		select {
		case job := <-jobs:
			_ = job // store it
		case <-ctx.Done():
			for {
				select {
				case job := <-jobs:
					_ = job
				default:
					return nil
				}
			}
		}
	}
}

// ignoreClosed turns the error of a server closed on purpose into nil.
func ignoreClosed(err error) error {
	if err == http.ErrServerClosed {
		return nil
	}
	return err
}

// kubelet does what the kubelet does: its readinessProbe finds the
// process ready, then the pod is deleted and its preStop httpGet hook
// runs.
func kubelet(admin string) {
	for _, path := range []string{"/servingz", "/prestop"} {
		resp, err := http.Get(admin + path)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}
