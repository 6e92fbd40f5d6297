package httpdrain_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// idleClientEnv, when set to "ADDR N", makes the test binary run as the
// client side of BenchmarkDrainIdle (see runIdleClient): the file limit
// (20,000 here) cannot hold both ends of 10,000 connections in one process.
const idleClientEnv = "HTTPDRAIN_IDLE_CLIENT"

// runIdleClient opens N keep-alive connections to ADDR, sends one request
// on each and reads the answer, prints "ready", then holds the connections
// until its standard input closes.
func runIdleClient() int {
	var addr string
	var n int
	if _, err := fmt.Sscan(os.Getenv(idleClientEnv), &addr, &n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
		}
		if err == nil {
			var resp *http.Response
			resp, err = http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				resp.Body.Close()
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	runtime.KeepAlive(conns) // unreachable connections would be closed by their finalizers
	return 0
}

// countingBackend serves with a Drainer, counting connections by state.
type countingBackend struct {
	*backend
	news, idles, closed atomic.Int64
}

func startCounting(b *testing.B) *countingBackend {
	cb := new(countingBackend)
	srv := &http.Server{Handler: http.HandlerFunc(bare), ConnState: func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			cb.news.Add(1)
		case http.StateIdle:
			cb.idles.Add(1)
		case http.StateClosed:
			cb.closed.Add(1)
		}
	}}
	cb.backend = serveWith(b, srv)
	return cb
}

// waitCount polls n until it reaches want.
func waitCount(b *testing.B, n *atomic.Int64, want int64) {
	deadline := time.Now().Add(time.Minute)
	for n.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("%d connections, want %d", n.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkDrainIdle measures the drain of a server holding 10,000 idle
// keep-alive connections (opened by a child process) and nothing in flight.
// Besides the time, it reports the CPU time the process used from the
// start of the drain until every connection's goroutine had reported it
// closed (cpu-ns/op): the load of a shared machine disturbs it less.
func BenchmarkDrainIdle(b *testing.B) {
	const n = 10000
	for _, tt := range shutdownFuncs() {
		b.Run(tt.name, func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				cb := startCounting(b)
				child := startIdleClient(b, cb.addr, n)
				waitCount(b, &cb.idles, n)
				start := cpuTime()
				b.StartTimer()
				require.NoError(b, tt.stop(cb.backend))
				b.StopTimer()
				waitCount(b, &cb.closed, n)
				cpu += cpuTime() - start
				child()
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// startIdleClient starts the child process and waits for its connections;
// the returned function ends it.
func startIdleClient(b *testing.B, addr string, n int) func() {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), idleClientEnv+"="+addr+" "+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	cmd.Stderr = os.Stderr
	require.NoError(b, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(b, err)
	require.Equal(b, "ready", strings.TrimSpace(line))
	return func() {
		stdin.Close()
		require.NoError(b, cmd.Wait())
	}
}

// BenchmarkDrainNeverUsed measures the drain of a server holding 1,000
// connections that were dialed but never sent a request (golang/go#22682).
func BenchmarkDrainNeverUsed(b *testing.B) {
	const n = 1000
	for _, tt := range shutdownFuncs() {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				cb := startCounting(b)
				conns := make([]net.Conn, n)
				for i := range conns {
					c, err := net.Dial("tcp", cb.addr)
					require.NoError(b, err)
					conns[i] = c
				}
				waitCount(b, &cb.news, n)
				b.StartTimer()
				require.NoError(b, tt.stop(cb.backend))
				b.StopTimer()
				for _, c := range conns {
					c.Close()
				}
				b.StartTimer()
			}
		})
	}
}
