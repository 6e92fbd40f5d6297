package shutdown_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
)

// fakeServer serves until its drain is called, then returns
// http.ErrServerClosed as net/http does. Its drain waits for the requests
// in flight, or for its context.
type fakeServer struct {
	stop     chan struct{}
	inFlight chan struct{} // closed when the request in flight ends
	forced   bool
}

func newFakeServer() *fakeServer {
	return &fakeServer{stop: make(chan struct{}), inFlight: make(chan struct{})}
}

func (f *fakeServer) serve() error { <-f.stop; return http.ErrServerClosed }

func (f *fakeServer) drain(ctx context.Context) error {
	close(f.stop)
	select {
	case <-f.inFlight:
		return nil
	case <-ctx.Done():
		f.forced = true
		return errors.New("forced")
	}
}

// TestServersDrainTogether: grace 6 s, delay 1 s, an HTTP and a gRPC
// server, a database and a journal. A request of 2.5 s in flight at the
// trigger completes: the drains share the time left, less the close
// reserve, instead of running one after another with a reserve per later
// step (which cut the HTTP drain to 1.5 s of the 3 s left).
func TestServersDrainTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq, _ := newSequence(t, shutdown.WithGracePeriod(6*time.Second), shutdown.WithPropagationDelay(time.Second))
		web, rpc := newFakeServer(), newFakeServer()
		seq.Serve("http", web.serve, web.drain)
		seq.Serve("grpc", rpc.serve, rpc.drain)
		var closedDB, closedJournal time.Time
		seq.AfterDrain("db", func(context.Context) error { closedDB = time.Now(); return nil })
		seq.AfterDrain("journal", func(context.Context) error { closedJournal = time.Now(); return nil })

		start := time.Now()
		seq.Trigger("test")
		go func() { time.Sleep(2500 * time.Millisecond); close(web.inFlight) }() // the request in flight
		close(rpc.inFlight)
		require.NoError(t, seq.Wait())
		assert.False(t, web.forced, "the 2.5 s request completed")
		assert.Equal(t, 2500*time.Millisecond, closedDB.Sub(start), "the database closes as soon as the drains are done")
		assert.Equal(t, closedDB, closedJournal)
		tl := seq.Timeline()
		require.Len(t, tl.Steps, 4)
		assert.Equal(t, tl.Steps[0].StartedAt, tl.Steps[1].StartedAt, "both drains start together")
		assert.Equal(t, start.Add(time.Second), tl.Steps[1].StartedAt)
		assert.Equal(t, shutdown.PhaseDrain, tl.Steps[0].Phase)
		assert.Equal(t, shutdown.PhaseAfterDrain, tl.Steps[3].Phase)
	})
}

// TestServeFailureTriggers: a server that fails before it was ever ready
// (Wait not yet called) triggers the sequence with its error and no
// delay; Wait reports the error.
func TestServeFailureTriggers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq, _ := newSequence(t, shutdown.WithPropagationDelay(5*time.Second))
		errListen := errors.New("listen tcp :8080: bind: address already in use")
		other := newFakeServer()
		close(other.inFlight)
		seq.Serve("admin", other.serve, other.drain)
		seq.Serve("http", func() error { return errListen }, func(context.Context) error { return nil })
		closedDB := false
		seq.AfterDrain("db", func(context.Context) error { closedDB = true; return nil })
		synctest.Wait()
		assert.True(t, closed(seq.Triggered()))
		start := time.Now()
		err := seq.Wait()
		require.ErrorIs(t, err, errListen)
		assert.Contains(t, err.Error(), `shutdown: step "http": listen tcp`)
		assert.Equal(t, 1, strings.Count(err.Error(), "address already in use"), "reported once")
		assert.Zero(t, time.Since(start), "a failure during start-up skips the delay")
		assert.True(t, closedDB, "the after-drain steps still run")
		assert.Equal(t, "error", seq.Timeline().Source)
	})
}

// TestServeFailureAfterStartSpendsTheDelay: once Wait runs, a failing
// server leaves through the delay like any trigger, so load balancers
// move away before the others drain.
func TestServeFailureAfterStartSpendsTheDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq, _ := newSequence(t, shutdown.WithPropagationDelay(5*time.Second))
		crash := make(chan error)
		seq.Serve("http", func() error { return <-crash }, func(context.Context) error { return nil })
		errc := waitAsync(seq)
		synctest.Wait()
		start := time.Now()
		crash <- nil // a server that returns nil before its drain has failed too
		err := <-errc
		require.Error(t, err)
		assert.Contains(t, err.Error(), `shutdown: step "http": returned before the drain`)
		assert.Equal(t, 5*time.Second, time.Since(start))
	})
}

func TestGoWorkers(t *testing.T) {
	t.Run("stopped at the trigger and awaited", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			seq, _ := newSequence(t, shutdown.WithPropagationDelay(time.Second))
			var stoppedAt time.Time
			seq.Go("consumer", func(ctx context.Context) error {
				<-ctx.Done()
				stoppedAt = time.Now()
				time.Sleep(300 * time.Millisecond) // finish the batch
				return ctx.Err()                   // a cancelled context is not an error
			})
			start := time.Now()
			seq.Trigger("test")
			require.NoError(t, seq.Wait())
			assert.Equal(t, start, stoppedAt, "the worker's context is cancelled at the trigger")
			assert.Equal(t, time.Second, time.Since(start))
		})
	})
	t.Run("an error before the trigger fails the sequence", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			seq, _ := newSequence(t)
			errQueue := errors.New("queue gone")
			seq.Go("consumer", func(context.Context) error { return errQueue })
			err := seq.Wait()
			require.ErrorIs(t, err, errQueue)
			assert.Equal(t, "error", seq.Timeline().Source)
		})
	})
	t.Run("a worker done early is not a failure", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			seq, _ := newSequence(t, shutdown.WithPropagationDelay(0))
			seq.Go("migrate", func(context.Context) error { return nil })
			synctest.Wait()
			assert.False(t, closed(seq.Triggered()))
			seq.Trigger("test")
			require.NoError(t, seq.Wait())
		})
	})
	t.Run("a worker that ignores its context is abandoned", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			seq, _ := newSequence(t, shutdown.WithGracePeriod(10*time.Second), shutdown.WithPropagationDelay(0))
			seq.Go("stuck", func(context.Context) error { <-release; return nil })
			seq.Trigger("test")
			err := seq.Wait()
			require.ErrorIs(t, err, shutdown.ErrAbandoned)
			tl := seq.Timeline()
			assert.Equal(t, tl.Deadline, tl.FinishedAt, "no after-drain steps: the drains get the whole budget")
		})
	})
	t.Run("a panic is reported", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			seq, _ := newSequence(t)
			seq.Go("boom", func(context.Context) error { panic("bad") })
			require.ErrorAs(t, seq.Wait(), new(*shutdown.PanicError))
		})
	})
}

// TestServeRealListener runs a real net/http server under the sequence:
// a listener that is taken fails the sequence with the listen error.
func TestServeRealListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	seq, _ := newSequence(t, shutdown.WithPropagationDelay(time.Hour), shutdown.WithGracePeriod(2*time.Hour))
	srv := &http.Server{Addr: ln.Addr().String()}
	seq.Serve("http", srv.ListenAndServe, srv.Shutdown)
	requireClosed(t, seq.Triggered(), "Triggered by the failure")
	err = recvErr(t, waitAsync(seq))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "address already in use")
}
