package httpdrain_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logBuffer is a log destination safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestBypassIsReported replaces srv.Handler or srv.ConnState after New,
// which turns the Drainer off: the first connection or request logs it at
// ERROR, once, and Drain returns ErrBypassed naming the field.
func TestBypassIsReported(t *testing.T) {
	tests := []struct {
		name    string
		replace func(srv *http.Server, d *httpdrain.Drainer)
		field   string // "" if nothing is bypassed
	}{
		{"handler replaced", func(srv *http.Server, _ *httpdrain.Drainer) { srv.Handler = http.HandlerFunc(echo) }, "srv.Handler"},
		{"conn state replaced", func(srv *http.Server, _ *httpdrain.Drainer) { srv.ConnState = func(net.Conn, http.ConnState) {} }, "srv.ConnState"},
		{"handler rewrapped", func(srv *http.Server, d *httpdrain.Drainer) { srv.Handler = d.Middleware(http.HandlerFunc(echo)) }, ""},
		{"conn state chained", func(srv *http.Server, _ *httpdrain.Drainer) {
			prev := srv.ConnState
			srv.ConnState = func(c net.Conn, s http.ConnState) { prev(c, s) }
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs logBuffer
			srv := &http.Server{Handler: http.HandlerFunc(echo)}
			d := httpdrain.New(srv, make(lifecycle), httpdrain.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			tt.replace(srv, d)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()

			for range 2 { // a second connection logs nothing more
				c := dialRaw(t, ln.Addr().String())
				_, body, err := c.roundTrip("/", "hello")
				require.NoError(t, err)
				assert.Equal(t, "hello", body)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			err = d.Drain(ctx)
			assert.ErrorIs(t, <-served, http.ErrServerClosed)
			if tt.field == "" {
				require.NoError(t, err)
				assert.Empty(t, logs.String())
				return
			}
			require.ErrorIs(t, err, httpdrain.ErrBypassed)
			assert.Contains(t, err.Error(), tt.field+" was replaced after New")
			assert.Regexp(t, `^httpdrain: [a-z]`, err.Error())
			assert.Equal(t, 1, bytes.Count([]byte(logs.String()), []byte("\n")), "one log line: %s", logs.String())
			assertBypassLog(t, logs.String(), tt.field)
		})
	}
}

// assertBypassLog checks the one JSON log line that reports a bypass: at
// ERROR, the error under the key "err", its text not repeated in the
// message.
func assertBypassLog(t *testing.T, line, field string) {
	t.Helper()
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
	assert.Equal(t, "ERROR", rec["level"])
	assert.NotContains(t, rec, "error", "the error key is err")
	errText, _ := rec["err"].(string)
	assert.Contains(t, errText, field+" was replaced after New")
	msg, _ := rec["msg"].(string)
	assert.True(t, strings.HasPrefix(msg, "httpdrain: "), "message %q has the package prefix", msg)
	assert.NotContains(t, errText, strings.TrimPrefix(msg, "httpdrain: "), "the message is not repeated in the error")
}

// TestSecondDrainReturnsWithItsContext calls Drain while another Drain waits
// for a request: the second call returns when its own context ends, the
// first goes on and returns nil.
func TestSecondDrainReturnsWithItsContext(t *testing.T) {
	g := newGate()
	b := startBackend(t, g)
	c := dialRaw(t, b.addr)
	_, err := c.Write([]byte(postHead("/", "x") + "x"))
	require.NoError(t, err)
	waitClosed(t, g.entered, "request in handler")
	first := b.drainAsync(waitLimit)
	waitClosed(t, b.d.DrainStarted(), "first drain started")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err = b.d.Drain(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, httpdrain.ErrForced, "the second call forced nothing")

	close(g.release)
	_, body, err := c.read()
	require.NoError(t, err)
	assert.Equal(t, "done", body)
	require.NoError(t, waitErr(t, first))
}
