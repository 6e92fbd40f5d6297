package httpdrain_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
)

// nopWriter is a ResponseWriter that keeps nothing, so that a benchmark
// measures the handler chain only.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

func bare(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

// quiet keeps the benchmarks' Drainers from logging that their servers,
// which serve no connection, bypass them.
var quiet = httpdrain.WithLogger(slog.New(slog.DiscardHandler))

// benchHandler is a handler under benchmark, with the srv.ConnContext its
// server needs.
type benchHandler struct {
	name    string
	h       http.Handler
	connCtx func(context.Context, net.Conn) context.Context
}

// handlers returns the bare handler, the same behind a Drainer that was
// not triggered, and behind one that also recycles connections by age and
// request count.
func handlers(b *testing.B) []benchHandler {
	srv := &http.Server{Handler: http.HandlerFunc(bare)}
	d := httpdrain.New(srv, make(lifecycle), quiet)
	recycling := &http.Server{Handler: http.HandlerFunc(bare)}
	rd := httpdrain.New(recycling, make(lifecycle), quiet,
		httpdrain.WithMaxConnectionAge(time.Hour), httpdrain.WithMaxConnectionRequests(math.MaxInt))
	b.Cleanup(func() {
		d.Drain(canceled())
		rd.Drain(canceled())
	})
	return []benchHandler{
		{"bare", http.HandlerFunc(bare), nil},
		{"drainer", srv.Handler, srv.ConnContext},
		{"drainer+recycle", recycling.Handler, recycling.ConnContext},
	}
}

// request returns a request as net/http would pass it to tt's handler: its
// context holds the connection's values under two cancelable layers
// (server.go, conn.serve and readRequest).
func (tt benchHandler) request() *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	ctx := context.Background()
	if tt.connCtx != nil {
		ctx = tt.connCtx(ctx, nil)
	}
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, &net.TCPAddr{})
	ctx, cancelConn := context.WithCancel(ctx)
	ctx, cancelReq := context.WithCancel(ctx)
	_, _ = cancelConn, cancelReq // the benchmark's requests never end
	return r.WithContext(ctx)
}

// BenchmarkMiddleware compares a handler with and without the Drainer's
// per-request work, serially and in parallel.
func BenchmarkMiddleware(b *testing.B) {
	for _, tt := range handlers(b) {
		b.Run(tt.name+"/serial", func(b *testing.B) {
			w, r := &nopWriter{h: http.Header{}}, tt.request()
			b.ReportAllocs()
			for b.Loop() {
				tt.h.ServeHTTP(w, r)
			}
		})
		b.Run(tt.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w, r := &nopWriter{h: http.Header{}}, tt.request()
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
			ts := httptest.NewUnstartedServer(tt.h)
			ts.Config.ConnContext = tt.connCtx
			ts.Start()
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

// BenchmarkLameDuck measures the middleware's work on a request once the
// lame-duck phase has started: the "Connection: close", with and without a
// close window, and, once the drain has started in reject mode, the
// exemption checks and the 503 answer.
func BenchmarkLameDuck(b *testing.B) {
	byAgent := httpdrain.WithExemptFunc(func(r *http.Request) bool { return r.UserAgent() == "probe" })
	tests := []struct {
		name  string
		opts  []httpdrain.Option
		drain bool
		path  string
	}{
		{"not-triggered", nil, false, "/"},
		{"lame", nil, false, "/"},
		{"lame+window", []httpdrain.Option{httpdrain.WithLameDuckWindow(time.Hour)}, false, "/"},
		{"reject/exempt-path", []httpdrain.Option{httpdrain.WithRejectWhileDraining(time.Second), byAgent}, true, "/metrics"},
		{"reject/exempt-prefix", []httpdrain.Option{httpdrain.WithRejectWhileDraining(time.Second), byAgent}, true, "/readyz/db"},
		{"reject/exempt-func", []httpdrain.Option{httpdrain.WithRejectWhileDraining(time.Second), byAgent}, true, "/probe"},
		{"reject/503", []httpdrain.Option{httpdrain.WithRejectWhileDraining(time.Second), byAgent}, true, "/work"},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			srv := &http.Server{Handler: http.HandlerFunc(bare)}
			trig := make(lifecycle)
			d := httpdrain.New(srv, trig, append(tt.opts, quiet)...)
			if tt.name != "not-triggered" {
				close(trig)
				<-httpdrain.LameDuckStarted(d)
			}
			if tt.drain {
				d.Drain(canceled())
			}
			b.Cleanup(func() { d.Drain(canceled()) })
			h := benchHandler{h: srv.Handler, connCtx: srv.ConnContext}
			w, r := &nopWriter{h: http.Header{}}, h.request()
			r.URL.Path = tt.path
			if tt.path == "/probe" {
				r.Header.Set("User-Agent", "probe")
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.h.ServeHTTP(w, r)
			}
		})
	}
}
