package grpcdrain_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
)

const (
	// endlessStreams is how many streams that never end by themselves a
	// server holds when its drain starts, as a server of watches would.
	endlessStreams = 4
	// pageTicks ticks, finiteInterval apart, make a finite stream of 1.5 s,
	// a Page of the examples.
	pageTicks = 30
	// endlessBudget is the drain's budget: the rollout's grace less its
	// delay and margins. Without WithEndlessStreams the drain would end
	// the default lead (1 s) before it.
	endlessBudget = 10 * time.Second
)

func TestWithEndlessStreamsMisuse(t *testing.T) {
	for _, name := range []string{"", "/", "Watch", "pkg.Service/Watch", "/pkg.Service", "/pkg.Service/", "//Watch", "/pkg.Service/Watch/x", "/pkg.Service/Wat ch"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			want := fmt.Sprintf(`grpcdrain: WithEndlessStreams(%q): not a full method name; write "/package.Service/Method", as in the generated Service_Method_FullMethodName constants`, name)
			assert.PanicsWithValue(t, want, func() { grpcdrain.WithEndlessStreams(testpb.Test_Chat_FullMethodName, name) })
		})
	}
}

// TestServeChecksEndlessStreams checks that a name of WithEndlessStreams
// that is not a streaming method of the server fails Serve at once, before
// anything is served, rather than leaving the streams it meant to hold the
// drain.
func TestServeChecksEndlessStreams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		methods []string
		want    []string // in the error; nil: Serve serves
	}{
		{"streams of the server", []string{testpb.Test_Chat_FullMethodName, testpb.Test_Ticks_FullMethodName}, nil},
		{"a typo", []string{"/lameduck.grpcdrain.test.v1.Test/Tick"}, []string{`WithEndlessStreams("/lameduck.grpcdrain.test.v1.Test/Tick"): no such method on the server`}},
		{"a unary method and an unknown service", []string{testpb.Test_Call_FullMethodName, "/other.v1.Other/Watch"},
			[]string{`WithEndlessStreams("/lameduck.grpcdrain.test.v1.Test/Call"): a unary method`, `WithEndlessStreams("/other.v1.Other/Watch"): no such method`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := grpcdrain.NewServer(trigger(nil), grpcdrain.WithEndlessStreams(tt.methods...))
			testpb.RegisterTestServer(d, newService("a"))
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			served := make(chan error, 1)
			go func() { served <- d.Serve(lis) }()
			if tt.want != nil {
				err := waitErr(t, served, "Serve")
				for _, w := range tt.want {
					assert.ErrorContains(t, err, w)
				}
				_, err = lis.Accept()
				assert.ErrorIs(t, err, net.ErrClosed, "Serve must close the listener")
				// The sequence drains a server whose Serve failed.
				ctx, cancel := context.WithTimeout(context.Background(), waitBound)
				defer cancel()
				assert.NoError(t, d.Drain(ctx))
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			_, err = testpb.NewTestClient(dial(t, lis.Addr().String())).Call(ctx, &testpb.CallRequest{})
			require.NoError(t, err)
			require.NoError(t, d.Drain(ctx))
			require.NoError(t, waitErr(t, served, "Serve"))
		})
	}
}

// TestEndlessStreamsEndAtTheDrain checks the stream policy: the streams of
// WithEndlessStreams end with codes.Unavailable as soon as the drain starts
// (over the window, when there is one), the finite streams in flight run
// to completion, and the drain ends when the last of them does, long
// before the default lead (1 s) before its deadline. It runs on the fake
// clock of a synctest bubble, over an in-memory listener.
func TestEndlessStreamsEndAtTheDrain(t *testing.T) {
	for _, tr := range memTransports {
		for _, window := range []time.Duration{0, 500 * time.Millisecond} {
			t.Run(fmt.Sprintf("%s, window %v", tr.name, window), func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					svc := newService("a")
					svc.ticks, svc.chat = pageTicks, chatWatching
					s, d := tr.start(t, svc, nil, grpcdrain.WithEndlessStreams(testpb.Test_Chat_FullMethodName), grpcdrain.WithDrainWindow(window))
					cc := dialServer(t, s)
					var endless []<-chan endedAt
					for range endlessStreams {
						endless = append(endless, watchEnd(openChat(t, cc, svc)))
					}
					page, pageStart := startPage(t, cc)

					ctx, cancel := context.WithTimeout(context.Background(), endlessBudget)
					defer cancel()
					start := time.Now()
					require.NoError(t, d.Drain(ctx))
					took := time.Since(start)

					pageLeft := (pageTicks-1)*finiteInterval - start.Sub(pageStart) // the first tick came at once
					t.Logf("drain took %v, %v after the end of the Page stream in flight", took, took-pageLeft)
					r := waitResult(t, page)
					assert.NoError(t, r.err, "the finite stream must complete")
					assert.Equal(t, pageTicks, r.got, "the finite stream must not be truncated")
					assert.Equal(t, pageLeft, took, "the drain must end with the finite stream, not wait for the lead before its deadline")
					for i, ch := range endless {
						e := waitEnded(t, ch)
						assert.Equal(t, codes.Unavailable, status.Code(e.err), "endless stream %d: %v", i, e.err)
						assert.LessOrEqual(t, e.at.Sub(start), window, "endless stream %d must end at the drain's start, over the window", i)
					}
				})
			})
		}
	}
}

// endedAt is when a stream ended, and how.
type endedAt struct {
	at  time.Time
	err error
}

func watchEnd(rpcErr <-chan error) <-chan endedAt {
	ch := make(chan endedAt, 1)
	go func() {
		err := <-rpcErr
		ch <- endedAt{at: time.Now(), err: err}
	}()
	return ch
}

func waitEnded(t *testing.T, ch <-chan endedAt) endedAt {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(waitBound):
		t.Fatalf("a stream did not end within %v", waitBound)
		return endedAt{}
	}
}

func waitResult(t *testing.T, ch <-chan streamResult) streamResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitBound):
		t.Fatalf("a stream did not end within %v", waitBound)
		return streamResult{}
	}
}

// pageTicksStream receives a Ticks stream of pageTicks ticks to its end.
func pageTicksStream(cc *grpc.ClientConn, started func()) streamResult {
	return recvTicks(cc, started, pageTicks)
}

// startPage opens a Ticks stream of pageTicks ticks and returns, once it is
// under way, when that was and where its result will come.
func startPage(t *testing.T, cc *grpc.ClientConn) (<-chan streamResult, time.Time) {
	t.Helper()
	started := make(chan struct{})
	page := make(chan streamResult, 1)
	go func() { page <- pageTicksStream(cc, sync.OnceFunc(func() { close(started) })) }()
	waitClosed(t, started, "Page stream under way")
	return page, time.Now()
}

// TestEndlessStreamsEndWithoutADeadline checks that a drain whose context
// has no deadline, which would wait for every other stream however long,
// still ends the streams of WithEndlessStreams at once.
func TestEndlessStreamsEndWithoutADeadline(t *testing.T) {
	t.Parallel()
	svc := newService("a")
	svc.chat = chatBlocked
	s, d := startDrained(t, svc, nil, grpcdrain.WithEndlessStreams(testpb.Test_Chat_FullMethodName))
	rpcErr := openChat(t, dialServer(t, s), svc)
	drained := make(chan error, 1)
	go func() { drained <- d.Drain(context.Background()) }()
	require.NoError(t, waitErr(t, drained, "drain"))
	assert.Equal(t, codes.Unavailable, status.Code(waitErr(t, rpcErr, "stream")))
}
