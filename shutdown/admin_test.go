package shutdown_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
)

// adminAddr returns the address ServeAdmin logged it listens on.
func adminAddr(t *testing.T, logs *countingWriter) string {
	t.Helper()
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for _, line := range logs.lines {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "shutdown: admin listening" {
			return m["addr"].(string)
		}
	}
	t.Fatal("ServeAdmin logged no address")
	return ""
}

// get sends a GET on a connection of its own, so that nothing is retried
// or kept alive, and returns the status and body; status 0 is an error.
func get(url string) (int, string, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: wait}).Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// TestServeAdmin: the admin listener serves h and /prestop from the call
// on, answers through the drain and the after-drain steps, and is closed
// by the time Wait returns.
func TestServeAdmin(t *testing.T) {
	t.Parallel() // real time: overlaps with the other real-time tests
	var logs countingWriter
	seq, _ := newSequence(t, shutdown.WithLogger(logs.logger()), shutdown.WithPropagationDelay(100*time.Millisecond))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "probe "+r.URL.Path) })
	seq.ServeAdmin("127.0.0.1:0", h)
	url := "http://" + adminAddr(t, &logs)

	code, body, err := get(url + "/readyz")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "probe /readyz", body)

	during := func(phase string) func(context.Context) error {
		return func(context.Context) error {
			code, body, err := get(url + "/livez")
			if err != nil || code != http.StatusOK || body != "probe /livez" {
				return errors.New(phase + ": the admin listener did not answer")
			}
			return nil
		}
	}
	srv := newFakeServer()
	close(srv.inFlight)
	seq.Serve("http", srv.serve, func(ctx context.Context) error {
		if err := during("drain")(ctx); err != nil {
			return err
		}
		return srv.drain(ctx)
	})
	seq.AfterDrain("db", during("after-drain"))
	errc := waitAsync(seq)

	code, body, err = get(url + "/prestop") // triggers, answers when the delay is over
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "draining\n", body)
	require.NoError(t, recvErr(t, errc))
	assert.Equal(t, "prestop", seq.Timeline().Source)
	_, _, err = get(url + "/readyz")
	require.ErrorIs(t, err, syscall.ECONNREFUSED, "closed once Wait returned")
}

// TestServeAdminNilHandler: with a nil handler only /prestop is served.
func TestServeAdminNilHandler(t *testing.T) {
	t.Parallel() // real time: overlaps with the other real-time tests
	var logs countingWriter
	seq, sigs := newSequence(t, shutdown.WithLogger(logs.logger()), shutdown.WithPropagationDelay(0))
	seq.ServeAdmin("127.0.0.1:0", nil)
	code, _, err := get("http://" + adminAddr(t, &logs) + "/readyz")
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, code)
	sigs <- syscall.SIGTERM
	require.NoError(t, seq.Wait())
}

// TestServeAdminListenFailure: a port in use is a trigger by error, which
// Wait returns, naming the listener.
func TestServeAdminListenFailure(t *testing.T) {
	t.Parallel() // real time: overlaps with the other real-time tests
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	seq, _ := newSequence(t, shutdown.WithLogger(discard))
	seq.ServeAdmin(ln.Addr().String(), nil)
	err = recvErr(t, waitAsync(seq))
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.True(t, strings.HasPrefix(err.Error(), "shutdown: admin: listen tcp "), err.Error())
	tl := seq.Timeline()
	assert.Equal(t, "error", tl.Source)
	assert.Zero(t, tl.Delay, "failed before anything said it was ready")
}
