package httpdrain_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goAwayTimeout is how long net/http's HTTP/2 server keeps a connection
// after its GOAWAY once its streams are over (h2_bundle.go).
const goAwayTimeout = time.Second

// TestHTTP2DrainEndsConnectionsAfterGoAway: a drain whose HTTP/2
// connections have no stream left returns well before net/http's second
// after the GOAWAY, whether a connection was idle when the GOAWAY came
// (Go's client keeps those) or had a stream in flight, and no request fails.
func TestHTTP2DrainEndsConnectionsAfterGoAway(t *testing.T) {
	for _, tt := range []struct {
		name     string
		tls      bool
		inFlight bool
	}{
		{"HTTPS/2/idle", true, false},
		{"HTTPS/2/stream in flight", true, true},
		{"h2c/idle", false, false},
		{"h2c/stream in flight", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			mux := http.NewServeMux()
			mux.HandleFunc("/", echo)
			mux.Handle("/gate", g)
			s := startH2(t, mux, tt.tls)
			_, body := s.post(t, "/")
			require.Equal(t, "body", body)
			done := make(chan string, 1)
			if tt.inFlight {
				go func() {
					_, body := s.post(t, "/gate")
					done <- body
				}()
				waitClosed(t, g.entered, "request in handler")
			}

			start := time.Now()
			errc := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				errc <- s.d.Drain(ctx)
			}()
			if tt.inFlight {
				waitRefused(t, hostOf(s.url))
				close(g.release)
				select {
				case body := <-done:
					assert.Equal(t, "done", body)
				case <-time.After(waitLimit):
					t.Fatal("no response")
				}
				start = time.Now()
			}
			if !tt.inFlight {
				waitClosed(t, s.closed, "connection closed")
				t.Logf("the connection closed %v after the drain started", time.Since(start))
			}
			require.NoError(t, waitErr(t, errc))
			took := time.Since(start)
			t.Logf("the drain returned %v after the last stream", took)
			assert.Less(t, took, goAwayTimeout*6/10, "the connection outlived its GOAWAY")
		})
	}
}

func hostOf(url string) string {
	for _, p := range []string{"https://", "http://"} {
		if len(url) > len(p) && url[:len(p)] == p {
			return url[len(p):]
		}
	}
	return url
}
