package shutdown_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/lameduck/lameduck/shutdown"
)

// TestQueueWorkerStopsAfterItsServer: a handler enqueues a job and answers
// 201; a worker run with StopAfter("http") consumes the queue. Under load
// through the delay and the drain, over HTTP and HTTPS, every job answered
// 201 is consumed. (A worker whose context ended at the trigger, as Go's
// context did, lost the jobs enqueued during the delay and the drain.)
func TestQueueWorkerStopsAfterItsServer(t *testing.T) {
	t.Parallel() // real time: overlaps with the other real-time tests
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[useTLS], func(t *testing.T) {
			testQueueWorker(t, useTLS)
		})
	}
}

func testQueueWorker(t *testing.T, useTLS bool) {
	seq, sigs := newSequence(t, shutdown.WithPropagationDelay(150*time.Millisecond), shutdown.WithGracePeriod(20*time.Second))
	queue := make(chan int, 1<<16)
	var accepted, consumed sync.Map
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		id, perr := strconv.Atoi(string(body))
		if err != nil || perr != nil {
			http.Error(w, "bad job", http.StatusBadRequest)
			return
		}
		queue <- id
		w.WriteHeader(http.StatusCreated)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	client := &http.Client{Timeout: wait, Transport: &http.Transport{}}
	scheme := "http"
	if useTLS {
		serverCfg, clientCfg := loopbackTLS(t)
		ln = tls.NewListener(ln, serverCfg)
		client.Transport = &http.Transport{TLSClientConfig: clientCfg}
		scheme = "https"
	}
	defer client.CloseIdleConnections()
	url := scheme + "://" + ln.Addr().String() + "/jobs"

	seq.Serve("http", func() error { return srv.Serve(ln) }, httpdrain.New(srv, seq).Drain)
	seq.Go("consumer", func(ctx context.Context) error {
		for {
			select {
			case id := <-queue:
				consumed.Store(id, true)
			case <-ctx.Done():
				for { // what is queued already
					select {
					case id := <-queue:
						consumed.Store(id, true)
					default:
						return nil
					}
				}
			}
		}
	}, shutdown.StopAfter("http"))
	errc := waitAsync(seq)

	// Clients post jobs until the server refuses them: through the delay
	// and into the drain. Each is bounded in count and time.
	var next atomic.Int64
	var posted sync.WaitGroup
	started := make(chan struct{}, 4)
	for range 4 {
		posted.Go(func() {
			deadline := time.Now().Add(wait)
			for i := 0; i < 5000 && time.Now().Before(deadline); i++ {
				if i == 10 {
					started <- struct{}{}
				}
				id := int(next.Add(1))
				// A body net/http cannot replay: the request is not retried.
				req, err := http.NewRequest(http.MethodPost, url, io.MultiReader(strings.NewReader(strconv.Itoa(id))))
				require.NoError(t, err)
				resp, err := client.Do(req)
				if err != nil {
					if closed(seq.DrainStarted()) {
						return // refused or cut once the drain started
					}
					continue // a closed keep-alive connection during the delay
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					accepted.Store(id, true)
				}
			}
		})
	}
	for range 4 {
		select {
		case <-started:
		case <-time.After(wait):
			t.Fatal("the clients did not start")
		}
	}
	sigs <- syscall.SIGTERM
	require.NoError(t, recvErr(t, errc))
	posted.Wait()

	var n int
	var lost []int
	accepted.Range(func(k, _ any) bool {
		n++
		if _, ok := consumed.Load(k); !ok {
			lost = append(lost, k.(int))
		}
		return true
	})
	t.Logf("%d jobs accepted, %d lost", n, len(lost))
	assert.Empty(t, lost, "accepted jobs never consumed")
	tl := seq.Timeline()
	require.Len(t, tl.Steps, 2)
	assert.NoError(t, tl.Steps[1].Err)
}

// loopbackTLS returns a server and a client TLS configuration for
// 127.0.0.1, with httptest's certificate.
func loopbackTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	defer ts.Close()
	server = &tls.Config{Certificates: ts.TLS.Certificates}
	client = ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	return server, client
}

// TestStopAfterOrder: a worker run with StopAfter("http") is stopped, with
// cause ErrServersDrained, once the http server's drain and serve call
// have returned, not at the trigger and not after the grpc server it does
// not name; Wait waits for it before the after-drain steps.
func TestStopAfterOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq, sigs := newSequence(t, shutdown.WithPropagationDelay(time.Second))
		web, rpc := newFakeServer(), newFakeServer()
		seq.Serve("http", web.serve, web.drain)
		seq.Serve("grpc", rpc.serve, rpc.drain)
		var stopped time.Time
		var cause error
		seq.Go("jobs", func(ctx context.Context) error {
			<-ctx.Done()
			stopped, cause = time.Now(), context.Cause(ctx)
			time.Sleep(100 * time.Millisecond) // the last jobs
			return ctx.Err()
		}, shutdown.StopAfter("http"))
		var closedAt time.Time
		seq.AfterDrain("db", func(context.Context) error { closedAt = time.Now(); return nil })
		errc := waitAsync(seq)
		start := time.Now()
		sigs <- syscall.SIGTERM
		time.Sleep(3 * time.Second) // the http request in flight ends 2 s into the drain
		synctest.Wait()
		assert.True(t, stopped.IsZero(), "stopped before its server drained")
		close(web.inFlight)
		synctest.Wait()
		assert.Equal(t, 3*time.Second, stopped.Sub(start), "stopped once http drained")
		assert.ErrorIs(t, cause, shutdown.ErrServersDrained)
		time.Sleep(time.Second)
		close(rpc.inFlight) // grpc drains after the worker stopped
		require.NoError(t, recvErr(t, errc))
		assert.Equal(t, 4*time.Second, closedAt.Sub(start), "the after-drain steps ran after the worker and every drain")
	})
}

// TestStopAfterUnknownName: a name that matches no server is reported by
// Wait, and the worker waits for every server instead.
func TestStopAfterUnknownName(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq, sigs := newSequence(t, shutdown.WithPropagationDelay(time.Second))
		web := newFakeServer()
		seq.Serve("http", web.serve, web.drain)
		var stopped time.Time
		seq.Go("jobs", func(ctx context.Context) error {
			<-ctx.Done()
			stopped = time.Now()
			return nil
		}, shutdown.StopAfter("htp"))
		errc := waitAsync(seq)
		start := time.Now()
		sigs <- syscall.SIGTERM
		time.Sleep(2 * time.Second)
		close(web.inFlight)
		err := recvErr(t, errc)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `shutdown: step "jobs": StopAfter("htp") names no server run with Serve`)
		assert.Equal(t, 2*time.Second, stopped.Sub(start), "waited for every server")
	})
}

// TestStopAfterWorkerFailsEarly: a worker run with StopAfter that fails
// before the trigger fails the sequence, as any worker does.
func TestStopAfterWorkerFailsEarly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq, _ := newSequence(t, shutdown.WithPropagationDelay(time.Second))
		web := newFakeServer()
		close(web.inFlight)
		seq.Serve("http", web.serve, web.drain)
		boom := errors.New("queue closed")
		seq.Go("jobs", func(context.Context) error { return boom }, shutdown.StopAfter("http"))
		err := seq.Wait()
		require.ErrorIs(t, err, boom)
		assert.Equal(t, "error", seq.Timeline().Source)
	})
}

func TestStopAfterPanics(t *testing.T) {
	assert.PanicsWithValue(t, `shutdown: StopAfter([]): pass the names of the servers given to Serve`, func() { shutdown.StopAfter() })
	assert.PanicsWithValue(t, `shutdown: StopAfter(["http" ""]): pass the names of the servers given to Serve`, func() { shutdown.StopAfter("http", "") })
}
