package httpdrain_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lameduck/lameduck/httpdrain"
)

// nopWriter is a ResponseWriter that keeps nothing, so that a benchmark
// measures the handler chain only.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

func bare(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

// handlers returns the bare handler and the same behind a Drainer that was
// not triggered.
func handlers(b *testing.B) []struct {
	name string
	h    http.Handler
} {
	srv := &http.Server{Handler: http.HandlerFunc(bare)}
	d := httpdrain.New(srv, make(lifecycle))
	b.Cleanup(func() { d.Drain(canceled()) })
	return []struct {
		name string
		h    http.Handler
	}{{"bare", http.HandlerFunc(bare)}, {"drainer", srv.Handler}}
}

// BenchmarkMiddleware compares a handler with and without the Drainer's
// per-request tracking, serially and in parallel.
func BenchmarkMiddleware(b *testing.B) {
	for _, tt := range handlers(b) {
		b.Run(tt.name+"/serial", func(b *testing.B) {
			w, r := &nopWriter{h: http.Header{}}, httptest.NewRequest(http.MethodPost, "/", nil)
			b.ReportAllocs()
			for b.Loop() {
				tt.h.ServeHTTP(w, r)
			}
		})
		b.Run(tt.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w, r := &nopWriter{h: http.Header{}}, httptest.NewRequest(http.MethodPost, "/", nil)
				for pb.Next() {
					tt.h.ServeHTTP(w, r)
				}
			})
		})
	}
}

// BenchmarkRoundTrip compares a keep-alive POST round trip over loopback
// to a server with and without a Drainer.
func BenchmarkRoundTrip(b *testing.B) {
	for _, tt := range handlers(b) {
		b.Run(tt.name, func(b *testing.B) {
			ts := httptest.NewServer(tt.h)
			defer ts.Close()
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			body := []byte("payload")
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Post(ts.URL, "text/plain", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// drainBudget bounds each drain in the drain benchmarks.
const drainBudget = 30 * 1e9

// shutdownFuncs returns the two ways to stop b's server compared by the
// drain benchmarks.
func shutdownFuncs() []struct {
	name string
	stop func(*backend) error
} {
	return []struct {
		name string
		stop func(*backend) error
	}{
		{"drainer", func(b *backend) error { return drain(b.d.Drain) }},
		{"shutdown", func(b *backend) error { return drain(b.srv.Shutdown) }},
	}
}

func drain(f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), drainBudget)
	defer cancel()
	return f(ctx)
}
