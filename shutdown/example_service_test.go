package shutdown_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/httpdrain"
	"github.com/lameduck/lameduck/readiness"
	"github.com/lameduck/lameduck/shutdown"
	"github.com/lameduck/lameduck/shutdown/internal/workpb"
)

// This is a whole service, as in the README: an admin listener with the
// probes and /prestop, an HTTP API and a gRPC server that drain together,
// a worker that consumes the jobs the API accepts, and a database closed
// after them. Here a stand-in for the kubelet waits for /servingz to pass,
// three clients post jobs, and a GET /prestop starts the sequence, as a
// pod deletion does; the environment sets a short propagation delay.
func Example_service() {
	defer lockPorts()()                             // the README's ports, one test process at a time
	os.Setenv("SHUTDOWN_PROPAGATION_DELAY", "50ms") // the manifest's env; seconds in production
	defer os.Unsetenv("SHUTDOWN_PROPAGATION_DELAY")
	db, jobs = &store{}, make(chan string, 16)
	report := make(chan string, 1)
	go func() { report <- kubelet("http://127.0.0.1:9090", "http://127.0.0.1:8080") }()
	fmt.Println("run:", run())
	fmt.Println(<-report)
	// Output:
	// db closed with 3 jobs stored
	// run: <nil>
	// posted 3 jobs; /prestop answered 200
}

func run() error {
	seq, err := shutdown.New(shutdown.FromEnv(os.LookupEnv))
	if err != nil {
		return err
	}
	probe := readiness.New(seq)
	seq.ServeAdmin(":9090", probe) // /readyz /servingz /livez /startupz /prestop
	api := &http.Server{Addr: ":8080", Handler: newAPI(db, jobs)}
	seq.Serve("http", api.ListenAndServe, httpdrain.New(api, seq).Drain)
	rpc := grpcdrain.NewServer(seq)
	workpb.RegisterWorkServer(rpc, &work{db})
	seq.Serve("grpc", func() error { return rpc.ListenAndServe(":8081") }, rpc.Drain)
	seq.Go("consumer", func(ctx context.Context) error { return consume(ctx, jobs) }, shutdown.StopAfter("http"))
	seq.AfterDrain("db", shutdown.Closer(db))
	probe.SetReady()
	return seq.Wait()
}

// The service's state: a database and a queue of the jobs the API has
// accepted and the consumer has not stored yet.
var (
	db   *store
	jobs chan string
)

// store stands in for a database pool.
type store struct {
	mu   sync.Mutex
	jobs []string
}

func (s *store) save(job string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs = append(s.jobs, job)
}

func (s *store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Printf("db closed with %d jobs stored\n", len(s.jobs))
	return nil
}

// newAPI accepts jobs: a POST /jobs queues its body and answers 202.
func newAPI(_ *store, jobs chan<- string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /jobs", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		jobs <- string(body) // accepted: it must not be lost
		w.WriteHeader(http.StatusAccepted)
	})
	return mux
}

// work implements the gRPC service on the same database.
type work struct{ db *store }

func (w *work) Do(_ context.Context, job string) error { w.db.save(job); return nil }

// consume stores jobs until ctx is cancelled, then the jobs still queued.
func consume(ctx context.Context, jobs <-chan string) error {
	for {
		select {
		case job := <-jobs:
			db.save(job)
		case <-ctx.Done():
			for {
				select {
				case job := <-jobs:
					db.save(job)
				default:
					return nil
				}
			}
		}
	}
}

// kubelet does what the kubelet and the clients do: the readiness probe
// finds the process ready, clients post jobs, then the pod is deleted and
// its preStop httpGet hook runs. It reports what it saw.
func kubelet(admin, api string) string {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(url string) int {
		resp, err := client.Get(url)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(10 * time.Second)
	for get(admin+"/servingz") != http.StatusOK {
		if time.Now().After(deadline) {
			return "never ready"
		}
		time.Sleep(10 * time.Millisecond)
	}
	posted := 0
	for i := range 3 {
		resp, err := client.Post(api+"/jobs", "text/plain", strings.NewReader(fmt.Sprint("job ", i)))
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			posted++
		}
	}
	return fmt.Sprintf("posted %d jobs; /prestop answered %d", posted, get(admin+"/prestop"))
}
