package shutdown_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLateSignalReplans: grace 30 s, delay 5 s, a deletion with a grace
// period of 3 s. /prestop triggers the sequence at 0; the kubelet gives up
// on the hook at 3 s and sends SIGTERM, and SIGKILL follows at 5 s. The
// delay ends at the SIGTERM, the drains start, and the deadline is
// SIGTERM + 2 s − 0.5 s: a request in flight that ends at 3.5 s completes,
// a request that would end later is forced just before 4.5 s, and Wait
// returns before the kill. (The delay used to run to 5 s, into the SIGKILL.)
func TestLateSignalReplans(t *testing.T) {
	for _, hang := range []bool{false, true} {
		t.Run(map[bool]string{false: "request completes", true: "request forced"}[hang], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var logs syncBuffer
				seq, sigs := newSequence(t, shutdown.WithGracePeriod(30*time.Second), shutdown.WithPropagationDelay(5*time.Second),
					shutdown.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
				web := newFakeServer()
				seq.Serve("http", web.serve, web.drain)
				errc := waitAsync(seq)
				start := time.Now()
				hook := make(chan int, 1)
				go func() {
					rec := httptest.NewRecorder()
					seq.PrestopHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/prestop", nil))
					hook <- rec.Code
				}()
				time.Sleep(3 * time.Second)
				sigs <- syscall.SIGTERM
				synctest.Wait()
				assert.True(t, closed(seq.DrainStarted()), "the drains start at the late signal")
				assert.Equal(t, http.StatusOK, <-hook, "the hook is answered")
				if !hang {
					time.Sleep(500 * time.Millisecond)
					close(web.inFlight)
				}
				err := recvErr(t, errc)
				took := time.Since(start)
				tl := seq.Timeline()
				assert.Equal(t, 3*time.Second, tl.Delay)
				assert.Equal(t, start.Add(4500*time.Millisecond), tl.Deadline)
				if hang {
					require.ErrorContains(t, err, `shutdown: step "http": forced`)
					assert.Equal(t, 4400*time.Millisecond, took, "forced just before the new deadline")
				} else {
					require.NoError(t, err)
					assert.Equal(t, 3500*time.Millisecond, took)
				}
				assert.Contains(t, logs.String(), `msg="shutdown: signal while /prestop still waits`)
				assert.Contains(t, logs.String(), "signal=SIGTERM source=prestop")
			})
		})
	}
}

// TestLateSignalBackstop: after a late signal, a sequence whose Wait is
// never called is forced to exit by the new deadline + half the late
// margin, before the kubelet's SIGKILL.
func TestLateSignalBackstop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		exited := make(chan time.Duration, 1)
		start := time.Now()
		seq, sigs := newSequence(t, shutdown.WithPropagationDelay(5*time.Second),
			testHooks(nil, func(int) { exited <- time.Since(start) }))
		go seq.PrestopHandler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/prestop", nil))
		time.Sleep(3 * time.Second)
		sigs <- syscall.SIGTERM
		assert.Equal(t, 4750*time.Millisecond, <-exited)
		assert.Less(t, 4750*time.Millisecond, 3*time.Second+2*time.Second)
	})
}

// TestSignalAfterPrestopIsLogged: the kubelet's SIGTERM after a hook that
// returned when the delay was over joins the sequence, changes nothing, and
// is logged.
func TestSignalAfterPrestopIsLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		seq, sigs := newSequence(t, shutdown.WithPropagationDelay(5*time.Second),
			shutdown.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		web := newFakeServer()
		seq.Serve("http", web.serve, web.drain)
		errc := waitAsync(seq)
		start := time.Now()
		seq.PrestopHandler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/prestop", nil))
		sigs <- syscall.SIGTERM
		time.Sleep(time.Second)
		close(web.inFlight)
		require.NoError(t, recvErr(t, errc))
		assert.Equal(t, 5*time.Second, seq.Timeline().Delay)
		assert.Equal(t, start.Add(28*time.Second), seq.Timeline().Deadline)
		assert.Contains(t, logs.String(), `msg="shutdown: signal joins the sequence" signal=SIGTERM source=prestop`)
	})
}

// deletionChild is the process of TestDeletionShorterThanDelay: grace
// 30 s, delay 5 s, /prestop on its admin listener, and an API whose
// handler takes ?ms= milliseconds. It prints "admin ADDR", "api ADDR" and
// "ready", then the report.
func deletionChild() int {
	seq, err := shutdown.New(shutdown.WithGracePeriod(30*time.Second), shutdown.WithPropagationDelay(5*time.Second),
		shutdown.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 2
	}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 2
	}
	go func() { _ = (&http.Server{Handler: seq.PrestopHandler()}).Serve(adminLn) }()
	api := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		_, _ = io.WriteString(w, "done\n")
	})}
	seq.Serve("http", func() error { return api.Serve(apiLn) }, api.Shutdown)
	fmt.Printf("admin %s\napi %s\nready\n", adminLn.Addr(), apiLn.Addr())
	err = seq.Wait()
	return reportTo(os.Stdout, seq.Timeline(), err)
}

// TestDeletionShorterThanDelay terminates a real process the way the
// kubelet does: pod spec grace 30 s, a deletion with a grace period of
// 500 ms, delay 5 s. The kubelet gives up on /prestop at 500 ms, sends
// SIGTERM, and would SIGKILL at 2.5 s. The process exits 0 before that, with the
// request in flight across the SIGTERM completed. (It was SIGKILLed.)
func TestDeletionShorterThanDelay(t *testing.T) {
	t.Parallel() // real time: overlaps with the other real-time tests
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=deletion", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	require.NoError(t, cmd.Start())
	w.Close()
	p := shutdowntest.Command(cmd)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.Exited()
	})
	lines := make(chan string, 8)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func(prefix string) string {
		t.Helper()
		select {
		case line := <-lines:
			require.True(t, strings.HasPrefix(line, prefix), "got %q, want %q", line, prefix)
			return strings.TrimPrefix(line, prefix)
		case <-time.After(wait):
			t.Fatalf("child did not print %q", prefix)
			return ""
		}
	}
	admin, api := next("admin "), next("api ")
	next("ready")

	// A request of 500 ms sent 250 ms after the hook: in flight across the
	// kubelet's SIGTERM at 500 ms, it ends well before the new deadline,
	// the signal + 1.5 s. Its body cannot be replayed: the client does not
	// retry it.
	reqDone := make(chan error, 1)
	time.AfterFunc(250*time.Millisecond, func() {
		resp, err := http.Post("http://"+api+"/?ms=500", "text/plain", io.MultiReader(strings.NewReader("job")))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		reqDone <- err
	})
	k := shutdowntest.Kubelet{
		GracePeriod:         30 * time.Second,
		DeletionGracePeriod: 500 * time.Millisecond,
		PreStop:             &shutdowntest.HTTPGet{URL: "http://" + admin + "/prestop"},
		Logf:                t.Logf,
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	rep := k.Terminate(ctx, p)
	assert.False(t, rep.Killed, "SIGKILLed")
	assert.Equal(t, 0, rep.ContainerExitCode)
	assert.True(t, rep.PreStopAbandoned, "the kubelet gave up on the hook at the deletion's grace period")
	assert.GreaterOrEqual(t, rep.SignalAfter, 500*time.Millisecond)
	assert.Less(t, rep.ExitAfter, rep.SignalAfter+shutdowntest.MinGraceAfterSignal)
	select {
	case err := <-reqDone:
		assert.NoError(t, err, "the request in flight across the SIGTERM")
	case <-time.After(wait):
		t.Fatal("the request did not end")
	}
	var child childReport
	require.NoError(t, json.Unmarshal([]byte(next("report ")), &child))
	assert.Equal(t, "prestop", child.Source)
	assert.Empty(t, child.Err)
	assert.Less(t, child.DelayMS, int64(5000), "the delay ended at the SIGTERM")
}

// TestLateSignalCutsBeforeDrainHooks: a before-drain hook still running when a
// late signal comes is abandoned then, its context cancelled, so that the
// drains have the time left; Wait reports it. (It ran on to the end of
// its budget, past the kubelet's SIGKILL.)
func TestLateSignalCutsBeforeDrainHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq, sigs := newSequence(t, shutdown.WithPropagationDelay(5*time.Second))
		var hookEnded time.Time
		seq.BeforeDrain("deregister", func(ctx context.Context) error {
			<-ctx.Done()
			hookEnded = time.Now()
			return ctx.Err()
		})
		errc := waitAsync(seq)
		start := time.Now()
		go seq.PrestopHandler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/prestop", nil))
		time.Sleep(3 * time.Second)
		sigs <- syscall.SIGTERM
		err := recvErr(t, errc)
		require.ErrorIs(t, err, shutdown.ErrAbandoned)
		assert.Contains(t, err.Error(), "deregister")
		assert.Equal(t, 3*time.Second, time.Since(start))
		synctest.Wait()
		assert.Equal(t, 3*time.Second, hookEnded.Sub(start), "the hook's context ends at the late signal")
		var hook shutdown.Step
		for _, st := range seq.Timeline().Steps {
			if st.Name == "deregister" {
				hook = st
			}
		}
		assert.True(t, hook.Abandoned)
	})
}

// TestLateSignalObserverWait: after a late signal, Wait waits for a busy
// observer only until the re-planned deadline, not the original one, so
// that the process exits on its own before the kubelet's SIGKILL (and
// before the backstop forces it).
func TestLateSignalObserverWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		seq, sigs := newSequence(t, shutdown.WithGracePeriod(30*time.Second), shutdown.WithPropagationDelay(5*time.Second),
			shutdown.WithObserver(func(st shutdown.Step) {
				if st.Name == "db" {
					<-release // busy until the test ends
				}
			}))
		seq.AfterDrain("db", func(context.Context) error { return nil })
		errc := waitAsync(seq)
		start := time.Now()
		go seq.PrestopHandler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/prestop", nil))
		time.Sleep(3 * time.Second)
		sigs <- syscall.SIGTERM
		require.NoError(t, recvErr(t, errc))
		assert.Equal(t, 4500*time.Millisecond, time.Since(start), "Wait returns at the re-planned deadline")
		close(release)
	})
}
