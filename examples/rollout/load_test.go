package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/examples/grpc/workpb"
)

// startHTTP serves h on 127.0.0.1:0 with HTTP/1.1 and h2c.
func startHTTP(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: h, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// workServer is a stand-in Work service.
type workServer struct {
	workpb.UnimplementedWorkServer
	calls atomic.Int64
	err   error
	// Page sends its items at once, but with cut >= 0 only the first cut,
	// and then ends with err.
	cut int
}

func (s *workServer) Page(req *workpb.PageRequest, stream workpb.Work_PageServer) error {
	s.calls.Add(1)
	n := int(req.GetCount())
	if s.cut >= 0 {
		n = min(n, s.cut)
	}
	for i := range n {
		if err := stream.Send(&workpb.PageItem{Seq: int64(i + 1)}); err != nil {
			return err
		}
	}
	return s.err
}

func (s *workServer) Do(context.Context, *workpb.DoRequest) (*workpb.DoResponse, error) {
	n := s.calls.Add(1)
	if s.err != nil {
		return nil, s.err
	}
	return &workpb.DoResponse{Id: n}, nil
}

func startGRPC(t *testing.T, ws *workServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	workpb.RegisterWorkServer(srv, ws)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return ln.Addr().String()
}

// httpLanes returns n lanes to addr, closed at cleanup.
func httpLanes(t *testing.T, addr string, n int, h2 bool) []sender {
	lanes := make([]sender, n)
	for i := range lanes {
		lanes[i] = newHTTPLane(addr, time.Millisecond, h2, nil)
	}
	t.Cleanup(func() { closeLanes(lanes) })
	return lanes
}

func TestOpenLoopHTTP(t *testing.T) {
	const n = 40
	for _, tc := range []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
		kind    string // "" for success
	}{
		{name: "ok", handler: func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
		}},
		{name: "503", kind: "503", handler: func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "draining", http.StatusServiceUnavailable)
		}},
	} {
		for _, h2 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/h2c=%v", tc.name, h2), func(t *testing.T) {
				var got atomic.Int64
				addr := startHTTP(t, func(w http.ResponseWriter, r *http.Request) {
					got.Add(1)
					assert.Equal(t, http.MethodPost, r.Method)
					assert.Equal(t, "/work", r.URL.Path)
					assert.Equal(t, h2, r.ProtoMajor == 2, r.Proto)
					tc.handler(w, r)
				})
				res := mustOpenLoop(t, nil, httpLanes(t, addr, 3, h2), n)
				assert.Equal(t, n, res.Sent)
				assert.EqualValues(t, n, got.Load())
				if tc.kind == "" {
					assert.Equal(t, n, res.OK)
					assert.Empty(t, res.Failures)
					assert.Len(t, res.Latencies, n)
					assert.Positive(t, res.P99())
					return
				}
				assert.Zero(t, res.OK)
				assert.Equal(t, map[string]int{tc.kind: n}, res.Failures)
			})
		}
	}
}

// A server that drops each connection after reading a request must see
// each request exactly once: the clients never replay a POST.
func TestOpenLoopHTTPDoesNotRetry(t *testing.T) {
	const n = 20
	var got atomic.Int64
	addr := startHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		io.Copy(io.Discard, r.Body)
		c, _, err := http.NewResponseController(w).Hijack()
		if assert.NoError(t, err) {
			c.Close()
		}
	})
	res := mustOpenLoop(t, nil, httpLanes(t, addr, 2, false), n)
	assert.Equal(t, n, res.Sent)
	assert.Zero(t, res.OK)
	assert.Equal(t, map[string]int{"EOF": n}, res.Failures)
	assert.EqualValues(t, n, got.Load(), "a request was sent twice")
}

// Open loop: requests keep going out while earlier ones are unanswered.
func TestOpenLoopDoesNotWaitForResponses(t *testing.T) {
	const n = 10
	release := make(chan struct{})
	var inFlight atomic.Int64
	addr := startHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	done := make(chan *loadResult, 1)
	lanes := httpLanes(t, addr, 1, true)
	go func() {
		res, err := openLoop(nil, lanes, 1000, n, 10*time.Second)
		assert.NoError(t, err)
		done <- res
	}()
	waitFor(t, "all requests in flight at once", func() bool { return inFlight.Load() == n })
	close(release)
	res := <-done
	assert.Equal(t, n, res.OK)
}

func TestOpenLoopStops(t *testing.T) {
	addr := startHTTP(t, func(http.ResponseWriter, *http.Request) {})
	stop := make(chan struct{})
	close(stop)
	res, err := openLoop(stop, httpLanes(t, addr, 1, false), 1000, 1000, 10*time.Second)
	require.NoError(t, err)
	assert.Zero(t, res.Sent)
}

func TestOpenLoopGRPC(t *testing.T) {
	const n = 30
	for _, tc := range []struct {
		name string
		err  error
		kind string
	}{
		{name: "ok"},
		{name: "unavailable", err: status.Error(codes.Unavailable, "draining"), kind: "Unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := &workServer{err: tc.err}
			addr := startGRPC(t, ws)
			lanes := make([]sender, 2)
			for i := range lanes {
				l, err := newGRPCLane(addr, time.Millisecond, nil)
				require.NoError(t, err)
				lanes[i] = l
			}
			defer closeLanes(lanes)
			res := mustOpenLoop(t, nil, lanes, n)
			assert.Equal(t, n, res.Sent)
			assert.EqualValues(t, n, ws.calls.Load(), "a call was retried or lost")
			if tc.kind == "" {
				assert.Equal(t, n, res.OK)
				return
			}
			assert.Equal(t, map[string]int{tc.kind: n}, res.Failures)
		})
	}
}

// TestOpenLoopPage: a Page stream counts as acknowledged only when it ends
// OK after all its items; one that ends early, OK or not, is a failure of
// kind "truncated" and counted apart; one that fails before its first item
// is a failure of its status.
func TestOpenLoopPage(t *testing.T) {
	const n = 20
	unavailable := status.Error(codes.Unavailable, "draining")
	for _, tc := range []struct {
		name      string
		cut       int
		err       error
		kind      string
		truncated int
	}{
		{name: "whole", cut: -1},
		{name: "short then OK", cut: 3, kind: "truncated", truncated: n},
		{name: "short then Unavailable", cut: 3, err: unavailable, kind: "truncated", truncated: n},
		{name: "Unavailable at once", cut: 0, err: unavailable, kind: "Unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := &workServer{cut: tc.cut, err: tc.err}
			addr := startGRPC(t, ws)
			lanes := make([]sender, 2)
			for i := range lanes {
				l, err := newGRPCLane(addr, time.Millisecond, nil)
				require.NoError(t, err)
				lanes[i] = &pageLane{grpcLane: l, seed: uint64(i)}
			}
			defer closeLanes(lanes)
			res := mustOpenLoop(t, nil, lanes, n)
			assert.Equal(t, n, res.Sent)
			assert.EqualValues(t, n, ws.calls.Load(), "a call was retried or lost")
			assert.Equal(t, tc.truncated, res.Truncated)
			if tc.kind == "" {
				assert.Equal(t, n, res.OK)
				assert.Empty(t, res.Failures)
				return
			}
			assert.Zero(t, res.OK)
			assert.Equal(t, map[string]int{tc.kind: n}, res.Failures)
			if tc.truncated > 0 {
				assert.Contains(t, res.Example(truncated), "stream ended after 3 of")
			}
		})
	}
}

// mustOpenLoop sends n requests at 1000/s over lanes.
func mustOpenLoop(t *testing.T, stop <-chan struct{}, lanes []sender, n int) *loadResult {
	t.Helper()
	res, err := openLoop(stop, lanes, 1000, n, 10*time.Second)
	require.NoError(t, err)
	return res
}
