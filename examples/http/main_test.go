package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/examples/internal/proctest"
	"github.com/lameduck/lameduck/examples/internal/selfsigned"
	"github.com/lameduck/lameduck/examples/internal/store"
	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { proctest.RemoveBuilds() }))
}

// loadResult counts what clients saw.
type loadResult struct {
	ok       int         // 200 answers
	statuses map[int]int // other answers
	errs     []error     // transport errors
}

// load runs workers that each POST base+/work?d=20ms up to perWorker times over
// keep-alive connections, stopping at their first transport error or once
// stop is closed. It closes warm once warmAfter requests have been answered
// 200.
func load(client *http.Client, base string, workers, perWorker, warmAfter int, warm chan<- struct{}, stop <-chan struct{}) loadResult {
	var (
		ok       atomic.Int64
		warmOnce sync.Once
		mu       sync.Mutex
		res      = loadResult{statuses: map[int]int{}}
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range perWorker {
				select {
				case <-stop:
					return
				default:
				}
				code, err := post(client, base+"/work?d=20ms")
				mu.Lock()
				switch {
				case err != nil:
					res.errs = append(res.errs, err)
				case code != http.StatusOK:
					res.statuses[code]++
				}
				mu.Unlock()
				if err != nil {
					return
				}
				if code == http.StatusOK && ok.Add(1) == int64(warmAfter) {
					warmOnce.Do(func() { close(warm) })
				}
			}
		})
	}
	wg.Wait()
	res.ok = int(ok.Load())
	return res
}

// post sends one POST and reads the answer. The request is not replayable
// (GetBody nil), so Go's transport sends it once or fails, except where the
// client says otherwise for HTTP/2 (see newClient).
func post(client *http.Client, url string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader("x"))
	if err != nil {
		return 0, err
	}
	if _, ok := client.Transport.(replayUnprocessed); !ok {
		req.GetBody = nil
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// wire is how a test client talks to the traffic listener.
type wire struct {
	name string
	h2   bool             // HTTP/2: h2c without cert, h2 by ALPN with it
	cert *selfsigned.Cert // nil: plaintext
}

// serverFlags returns the flags the service needs for w, followed by extra.
func (w wire) serverFlags(extra ...string) []string {
	if w.cert == nil {
		return extra
	}
	return proctest.TLSFlags(*w.cert, extra...)
}

// base returns the URL of the service at addr without a path.
func (w wire) base(addr string) string {
	if w.cert == nil {
		return "http://" + addr
	}
	return "https://" + addr
}

// newClient returns a keep-alive client for HTTP/1.1, or for h2c.
func newClient(h2c bool) *http.Client {
	return wire{h2: h2c}.client()
}

// client returns a keep-alive client for w that speaks only w's protocol:
// over TLS it offers one ALPN protocol and trusts only w's certificate.
//
// The HTTP/2 clients keep GetBody, which lets Go's HTTP/2 transport resend a
// request only on a new connection and only when the server's GOAWAY said
// the stream was never processed (h2_bundle.go, processGoAway: streams above
// LastStreamID are aborted with errClientConnGotGoAway, the one case
// canRetryError allows besides REFUSED_STREAM). That is a retry the protocol
// makes safe, not a replay of processed work. It is needed because Go's
// server sends a single GOAWAY carrying the last stream it has read
// (startGracefulShutdownInternal), not the two-phase GOAWAY of RFC 9113
// section 6.8, so a stream already in flight when "Connection: close"
// starts the GOAWAY is refused; without GetBody the client reports
// "cannot retry err [...GOAWAY] after Request.Body was written".
func (w wire) client() *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, Protocols: new(http.Protocols)}
	switch {
	case w.cert != nil && w.h2:
		tr.Protocols.SetHTTP2(true)
		tr.TLSClientConfig = w.cert.ClientConfig()
	case w.cert != nil:
		tr.Protocols.SetHTTP1(true)
		tr.TLSClientConfig = w.cert.ClientConfig("http/1.1")
	case w.h2:
		tr.Protocols.SetUnencryptedHTTP2(true)
	default:
		tr.Protocols.SetHTTP1(true)
	}
	if !w.h2 {
		return &http.Client{Transport: tr, Timeout: 20 * time.Second}
	}
	return &http.Client{Transport: replayUnprocessed{tr}, Timeout: 20 * time.Second}
}

// replayUnprocessed marks a transport whose requests keep GetBody.
type replayUnprocessed struct{ *http.Transport }

// terminateUnderLoad starts the service, loads it, sends SIGTERM once warm
// and returns the exit code, what the clients saw and the counts on disk.
func terminateUnderLoad(t *testing.T, bin string, w wire, workers, perWorker int, args ...string) (int, loadResult, int, int) {
	t.Helper()
	p := proctest.Start(t, bin, w.serverFlags(args...)...)
	client := w.client()
	defer client.CloseIdleConnections()
	warm, stop := make(chan struct{}), make(chan struct{})
	done := make(chan loadResult, 1)
	go func() { done <- load(client, w.base(p.Addr), workers, perWorker, workers*2, warm, stop) }()
	select {
	case <-warm:
	case <-time.After(proctest.LoadTimeout):
		t.Fatal("load did not warm up")
	}
	require.NoError(t, p.Signal(syscall.SIGTERM))
	lb := time.AfterFunc(proctest.LBCatchUp, func() { close(stop) })
	defer lb.Stop()
	code := p.WaitExit(t, proctest.ExitTimeout)
	var res loadResult
	select {
	case res = <-done:
	case <-time.After(proctest.LoadTimeout):
		t.Fatal("load did not end after the process exited")
	}
	rows, lines, err := store.Count(p.DataDir)
	require.NoError(t, err)
	t.Logf("exit=%d ok=%d statuses=%v errors=%d rows=%d lines=%d", code, res.ok, res.statuses, len(res.errs), rows, lines)
	return code, res, rows, lines
}

func TestLameduckLosesNothing(t *testing.T) {
	bin := proctest.Build(t, ".")
	cert := proctest.Cert(t)
	for _, w := range []wire{
		{name: "http1"},
		{name: "h2c", h2: true},
		{name: "https1", cert: &cert},
		{name: "https2", h2: true, cert: &cert},
	} {
		t.Run(w.name, func(t *testing.T) {
			code, res, rows, lines := terminateUnderLoad(t, bin, w, 8, 100, proctest.Flags()...)
			assert.Equal(t, 0, code)
			assert.Greater(t, res.ok, 16)
			assert.Equal(t, res.ok, rows, "rows = requests answered 200")
			assert.Equal(t, res.ok, lines, "journal lines = requests answered 200")
			assert.Empty(t, res.statuses, "no request was cut short")
			assert.Empty(t, res.errs, "no request failed")
		})
	}
}

// TestShutdownStrategyFailsRequests runs the load of TestLameduckLosesNothing
// against the common pattern: what is acknowledged is kept, but the requests
// sent before the load balancer caught up are refused, and even a request
// already sent may fail: Shutdown closes a keep-alive connection it sees
// idle, though the next request may be on its way.
func TestShutdownStrategyFailsRequests(t *testing.T) {
	bin := proctest.Build(t, ".")
	code, res, rows, lines := terminateUnderLoad(t, bin, wire{}, 8, 100, proctest.Flags("-strategy", "shutdown")...)
	assert.Equal(t, 0, code)
	assert.Equal(t, res.ok, rows)
	assert.Equal(t, res.ok, lines)
	assert.NotEmpty(t, res.errs, "Shutdown closes the listener at SIGTERM")
}

func TestNoneStrategyLosesJournalLines(t *testing.T) {
	bin := proctest.Build(t, ".")
	// At most 80 requests: their journal lines (under 40 bytes each) fit in
	// the 4 KiB buffer, so none reaches the file unless the exit path runs.
	code, res, rows, lines := terminateUnderLoad(t, bin, wire{}, 8, 10, proctest.Flags("-strategy", "none")...)
	proctest.AssertDiedOfSignal(t, code, false)
	assert.Greater(t, res.ok, 0)
	assert.Less(t, lines, res.ok, "acknowledged journal lines are lost")
	assert.GreaterOrEqual(t, rows, res.ok, "committed rows survive the kill (WAL)")
}

// TestKubeletPrestop terminates the service the way the kubelet does with a
// preStop httpGet hook on /prestop: the hook returns once the delay is
// over, then SIGTERM joins the running sequence.
func TestKubeletPrestop(t *testing.T) {
	bin := proctest.Build(t, ".")
	p := proctest.Start(t, bin, "-grace", "6s", "-delay", "1s")
	client := newClient(false)
	defer client.CloseIdleConnections()
	code, err := post(client, "http://"+p.Addr+"/work")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)

	k := shutdowntest.Kubelet{
		GracePeriod: 6 * time.Second,
		PreStop:     &shutdowntest.HTTPGet{URL: "http://" + p.Admin + "/prestop"},
		Logf:        t.Logf,
	}
	ctx, cancel := context.WithTimeout(context.Background(), proctest.ExitTimeout)
	defer cancel()
	r := k.Terminate(ctx, p)
	require.NoError(t, r.PreStopErr)
	assert.Equal(t, http.StatusOK, r.PreStopStatus)
	assert.GreaterOrEqual(t, r.PreStopDuration, time.Second, "the hook waits for the delay")
	assert.False(t, r.Killed)
	assert.Equal(t, 0, r.ExitCode)

	rows, lines, err := store.Count(p.DataDir)
	require.NoError(t, err)
	assert.Equal(t, 1, rows)
	assert.Equal(t, 1, lines)
}

func TestWorkHandler(t *testing.T) {
	bin := proctest.Build(t, ".")
	p := proctest.Start(t, bin, "-strategy", "shutdown")
	client := newClient(false)
	defer client.CloseIdleConnections()
	for _, tt := range []struct {
		query string
		want  int
	}{
		{"", http.StatusOK},
		{"?d=1ms", http.StatusOK},
		{"?d=soon", http.StatusBadRequest},
		{"?d=-1s", http.StatusBadRequest},
	} {
		t.Run(tt.query, func(t *testing.T) {
			code, err := post(client, "http://"+p.Addr+"/work"+tt.query)
			require.NoError(t, err)
			assert.Equal(t, tt.want, code)
		})
	}
	require.NoError(t, p.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.WaitExit(t, proctest.ExitTimeout))
	rows, lines, err := store.Count(p.DataDir)
	require.NoError(t, err)
	assert.Equal(t, 2, rows)
	assert.Equal(t, 2, lines)
}

// TestLameduckBoundsAStuckRequest: a request that would outlive the grace
// period cannot hold the process until the kubelet's SIGKILL. The drain is
// forced at its deadline, the later steps still run, and the stuck request,
// never answered 200, is not recorded.
func TestLameduckBoundsAStuckRequest(t *testing.T) {
	bin := proctest.Build(t, ".")
	p := proctest.Start(t, bin, proctest.Flags()...)
	client := newClient(false)
	defer client.CloseIdleConnections()

	stuck := make(chan error, 1)
	written := make(chan struct{})
	go func() {
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			WroteRequest: func(httptrace.WroteRequestInfo) { close(written) },
		})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.Addr+"/work?d=1h", strings.NewReader("x"))
		if err != nil {
			stuck <- err
			return
		}
		req.GetBody = nil
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("stuck request answered %d", resp.StatusCode)
		}
		stuck <- err
	}()
	select {
	case <-written:
	case <-time.After(proctest.LoadTimeout):
		t.Fatal("stuck request not written")
	}
	for range 3 {
		code, err := post(client, "http://"+p.Addr+"/work")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
	}

	k := shutdowntest.Kubelet{GracePeriod: proctest.Grace, Logf: t.Logf}
	ctx, cancel := context.WithTimeout(context.Background(), proctest.ExitTimeout)
	defer cancel()
	r := k.Terminate(ctx, p)
	assert.False(t, r.Killed, "the process exits before the grace period is over")
	assert.Equal(t, 1, r.ExitCode, "a forced drain is reported")
	assert.Contains(t, p.Stderr(), "httpdrain: forced close at the deadline")

	select {
	case err := <-stuck:
		assert.Error(t, err, "the stuck request is cut, not answered")
	case <-time.After(proctest.LoadTimeout):
		t.Fatal("stuck request did not end")
	}
	rows, lines, err := store.Count(p.DataDir)
	require.NoError(t, err)
	assert.Equal(t, 3, rows)
	assert.Equal(t, 3, lines, "the journal step ran after the forced drain")
}

// TestTLS serves over TLS: HTTP/1.1 and HTTP/2 on the same port, chosen by
// ALPN, no plaintext on it (neither HTTP/1.1 nor h2c), and the admin
// listener still plaintext for the kubelet.
func TestTLS(t *testing.T) {
	bin := proctest.Build(t, ".")
	cert := proctest.Cert(t)
	p := proctest.Start(t, bin, proctest.TLSFlags(cert, "-strategy", "shutdown")...)
	for _, tt := range []struct {
		w         wire
		wantProto string
		wantALPN  string
	}{
		{wire{cert: &cert}, "HTTP/1.1", "http/1.1"},
		{wire{h2: true, cert: &cert}, "HTTP/2.0", "h2"},
	} {
		client := tt.w.client()
		req, err := http.NewRequest(http.MethodPost, tt.w.base(p.Addr)+"/work", strings.NewReader("x"))
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err, tt.wantProto)
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		client.CloseIdleConnections()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, tt.wantProto, resp.Proto)
		require.NotNil(t, resp.TLS, tt.wantProto)
		assert.Equal(t, tt.wantALPN, resp.TLS.NegotiatedProtocol)
	}
	for _, w := range []wire{{name: "http1"}, {name: "h2c", h2: true}} {
		client := w.client()
		// net/http answers a plaintext HTTP/1.1 request with 400 "Client
		// sent an HTTP request to an HTTPS server" (server.go, serve); the
		// h2c preface fails the handshake.
		code, err := post(client, w.base(p.Addr)+"/work")
		client.CloseIdleConnections()
		assert.False(t, err == nil && code == http.StatusOK, "%s on the TLS port: code %d, err %v", w.name, code, err)
	}
	resp, err := http.Get("http://" + p.Admin + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "admin is plaintext")
	http.DefaultClient.CloseIdleConnections()

	require.NoError(t, p.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.WaitExit(t, proctest.ExitTimeout))
	rows, lines, err := store.Count(p.DataDir)
	require.NoError(t, err)
	assert.Equal(t, 2, rows, "the two TLS requests, not the plaintext ones")
	assert.Equal(t, 2, lines)
}

// TestTLSUsage: the service refuses to start with half a TLS configuration
// or a certificate it cannot load, rather than serve plaintext.
func TestTLSUsage(t *testing.T) {
	bin := proctest.Build(t, ".")
	cert := proctest.Cert(t)
	for _, tt := range []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"-tls-cert", cert.CertFile}, 2, "without -tls-key"},
		{[]string{"-tls-key", cert.KeyFile}, 2, "without -tls-cert"},
		{[]string{"-tls-cert", cert.KeyFile, "-tls-key", cert.CertFile}, 1, "-tls-cert"},
	} {
		out, err := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-data", t.TempDir()}, tt.args...)...).CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%v: %s", tt.args, out)
		assert.Equal(t, tt.wantCode, exit.ExitCode(), "%v: %s", tt.args, out)
		assert.Contains(t, string(out), tt.wantErr)
		assert.NotContains(t, string(out), "listening", "never served")
	}
}

// TestNoneStrategyAsPID1 runs -strategy none as the entry point of a
// container runs, PID 1 of its PID namespace: SIGTERM still ends it
// without its exit path, but with exit code 2, not by the signal.
func TestNoneStrategyAsPID1(t *testing.T) {
	bin := proctest.Build(t, ".")
	p := proctest.StartPID1(t, bin, proctest.Flags("-strategy", "none")...)
	client := newClient(false)
	defer client.CloseIdleConnections()
	const ok = 3
	for range ok {
		code, err := post(client, "http://"+p.Addr+"/work")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
	}
	require.NoError(t, p.Signal(syscall.SIGTERM))
	proctest.AssertDiedOfSignal(t, p.WaitExit(t, proctest.ExitTimeout), true)
	rows, lines, err := store.Count(p.DataDir)
	require.NoError(t, err)
	assert.Equal(t, ok, rows, "committed rows survive (WAL)")
	assert.Zero(t, lines, "the buffered journal lines are lost: the exit path did not run")
}

// TestMaxConnAgeFlag checks that -max-conn-age reaches httpdrain: a
// keep-alive connection older than the age gets "Connection: close",
// which it never gets without the flag.
func TestMaxConnAgeFlag(t *testing.T) {
	bin := proctest.Build(t, ".")
	for _, tt := range []struct {
		args      []string
		wantClose bool
	}{
		{nil, false},
		{[]string{"-max-conn-age", "100ms"}, true},
	} {
		t.Run(fmt.Sprint(tt.args), func(t *testing.T) {
			p := proctest.Start(t, bin, proctest.Flags(tt.args...)...)
			client := &http.Client{Timeout: 10 * time.Second}
			defer client.CloseIdleConnections()
			closed := false
			deadline := time.Now().Add(time.Second) // 10 ages
			for i := 0; i < 1000 && !closed && time.Now().Before(deadline); i++ {
				resp, err := client.Post("http://"+p.Addr+"/work?d=5ms", "text/plain", strings.NewReader("x"))
				require.NoError(t, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
				closed = resp.Close
			}
			assert.Equal(t, tt.wantClose, closed, "a response with Connection: close")
			require.NoError(t, p.Signal(syscall.SIGTERM))
			require.Equal(t, 0, p.WaitExit(t, proctest.ExitTimeout))
		})
	}
}
