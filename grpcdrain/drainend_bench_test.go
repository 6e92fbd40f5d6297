package grpcdrain_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lameduck/lameduck/grpcdrain"
	"github.com/lameduck/lameduck/grpcdrain/internal/testpb"
)

// drainEndBudget is the drain's budget in BenchmarkDrainEnd: that of the
// examples' rollout rig (grace 10 s, delay 2 s, safety margin 2 s, close
// reserve 1 s).
const drainEndBudget = 5 * time.Second

// BenchmarkDrainEnd measures when the drain of a server holding 4 streams
// that never end by themselves (Chat, standing for Watch) ends, alone and
// with 8 finite streams of 1.5 s (Ticks, standing for Page) opened just
// before the drain starts, without and with WithEndlessStreams. drain-ms
// is the drain's length; past-finite-ms how long it lasted after the last
// finite stream ended (with only endless streams: after it started).
//
//	go test -run '^$' -bench DrainEnd -benchtime=3x ./grpcdrain/
func BenchmarkDrainEnd(b *testing.B) {
	for _, pages := range []int{0, 8} {
		for _, policy := range []struct {
			name string
			opts []grpcdrain.Option
		}{
			{"default", nil},
			{"WithEndlessStreams", []grpcdrain.Option{grpcdrain.WithEndlessStreams(testpb.Test_Chat_FullMethodName)}},
		} {
			name := "4 endless"
			if pages > 0 {
				name += "+8 finite of 1.5s"
			}
			b.Run(name+"/"+policy.name, func(b *testing.B) {
				var drain, past time.Duration
				for range b.N {
					d, p := drainEnd(b, pages, policy.opts)
					drain += d
					past += p
				}
				b.ReportMetric(float64(drain.Milliseconds())/float64(b.N), "drain-ms")
				b.ReportMetric(float64(past.Microseconds())/1e3/float64(b.N), "past-finite-ms")
			})
		}
	}
}

// drainEnd runs one drain and returns its length and how long it lasted
// after the last finite stream ended.
func drainEnd(b *testing.B, pages int, opts []grpcdrain.Option) (took, past time.Duration) {
	svc := newService("a")
	svc.ticks, svc.chat = pageTicks, chatWatching
	d := grpcdrain.NewServer(trigger(nil), opts...)
	testpb.RegisterTestServer(d, svc)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve(lis) }()
	cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDisableRetry())
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	client := testpb.NewTestClient(cc)

	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	for range endlessStreams {
		stream, err := client.Chat(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := stream.Send(&testpb.ChatMessage{Text: "hello"}); err != nil {
			b.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			for range 1_000_000 {
				if _, err := stream.Recv(); err != nil {
					return
				}
			}
		})
	}
	var mu sync.Mutex
	var lastEnd time.Time
	for range pages {
		started := make(chan struct{})
		wg.Go(func() {
			r := pageTicksStream(cc, sync.OnceFunc(func() { close(started) }))
			if r.err != nil || r.got != pageTicks {
				b.Errorf("finite stream: %v", r)
			}
			mu.Lock()
			lastEnd = time.Now()
			mu.Unlock()
		})
		<-started
	}

	drainCtx, drainCancel := context.WithTimeout(context.Background(), drainEndBudget)
	defer drainCancel()
	start := time.Now()
	if err := d.Drain(drainCtx); err != nil {
		b.Fatal(err)
	}
	end := time.Now()
	if err := <-served; err != nil {
		b.Fatal(err)
	}
	wg.Wait()
	if pages == 0 {
		lastEnd = start
	}
	return end.Sub(start), end.Sub(lastEnd)
}
