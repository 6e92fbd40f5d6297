package shutdown_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/httpdrain"
	"github.com/lameduck/lameduck/shutdown"
)

// wiring makes one server the README's way, on a loopback listener, and
// returns its serve call and drain for Sequence.Serve.
type wiring func(t testing.TB, seq *shutdown.Sequence) (func() error, func(context.Context) error)

var wirings = []struct {
	name string
	wire wiring
}{
	{"net/http", func(t testing.TB, seq *shutdown.Sequence) (func() error, func(context.Context) error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		api := &http.Server{Handler: http.NotFoundHandler()}
		t.Cleanup(func() { ln.Close() }) // closed by Serve only if it ran
		return func() error { return api.Serve(ln) }, httpdrain.New(api, seq).Drain
	}},
	{"grpc", func(t testing.TB, seq *shutdown.Sequence) (func() error, func(context.Context) error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		rpc := grpcdrain.NewServer(seq)
		t.Cleanup(func() { ln.Close() })
		return func() error { return rpc.Serve(ln) }, rpc.Drain
	}},
}

// TestServeCalledAfterItsDrain: a SIGINT during start-up drains at once;
// a serve goroutine that had not yet called Serve then calls it on a
// stopped server. net/http's Serve returns http.ErrServerClosed, grpc's
// grpc.ErrServerStopped, which failed Wait (8 of 2800 start-ups with the
// README's gRPC wiring; here the serve call is held until the drain is
// over, so it fails every time). The serve call's return once its drain
// has started is the server stopping, not a failure.
func TestServeCalledAfterItsDrain(t *testing.T) {
	for _, w := range wirings {
		t.Run(w.name, func(t *testing.T) {
			seq, sigs := newSequence(t)
			serve, drain := w.wire(t, seq)
			drained := make(chan struct{})
			seq.Serve("server", func() error { <-drained; return serve() }, func(ctx context.Context) error {
				defer close(drained)
				return drain(ctx)
			})
			sigs <- os.Interrupt // during start-up
			require.NoError(t, recvErr(t, waitAsync(seq)))
		})
	}
}

// BenchmarkSIGINTDuringStartup starts a service the README's way and sends
// SIGINT at once, before Wait: failed/op is the share of start-ups whose
// Wait failed.
//
//	go test -run '^$' -bench SIGINTDuringStartup -benchtime 2800x ./shutdown/
func BenchmarkSIGINTDuringStartup(b *testing.B) {
	for _, w := range wirings {
		b.Run(w.name, func(b *testing.B) {
			failed := 0
			for b.Loop() {
				sigs := make(chan os.Signal, 1)
				seq, err := shutdown.New(testHooks(sigs, nil), shutdown.WithLogger(discard))
				require.NoError(b, err)
				serve, drain := w.wire(b, seq)
				seq.Serve(w.name, serve, drain)
				sigs <- os.Interrupt
				if err := seq.Wait(); err != nil {
					failed++
					b.Log(err)
				}
			}
			b.ReportMetric(float64(failed)/float64(b.N), "failed/op")
			assert.Zero(b, failed)
		})
	}
}
