package loadtest

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHTTPDoesNotResend: a server that reads a request and closes the
// connection without answering costs a failure, never a silent resend on
// a new connection.
func TestHTTPDoesNotResend(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var requests atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				requests.Add(1)
			}
			c.Close()
		}
	}()
	tr := &http.Transport{MaxConnsPerHost: 1}
	h := &HTTP{Client: &http.Client{Transport: tr}, URL: "http://" + ln.Addr().String() + "/", Body: "x"}
	res, err := Run(context.Background(), Config{Rate: 100, Max: 5}, h.Send)
	require.NoError(t, err)
	tr.CloseIdleConnections()
	ln.Close()
	<-done
	assert.Equal(t, 5, res.Failed(), "%v", res)
	assert.Equal(t, map[string]int{"EOF": 5}, res.Failures, "%v", res.First())
	assert.EqualValues(t, 5, requests.Load(), "each request sent once")
	assert.Zero(t, h.Resent())
}

// TestHTTPChecksAnswers sends over HTTP/1.1 and HTTP/2, in clear and over
// TLS: a 200 with the body sent back succeeds; another status or body
// fails with its reason.
func TestHTTPChecksAnswers(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "not a POST", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Query().Has("fail") {
			http.Error(w, "failing", http.StatusServiceUnavailable)
			return
		}
		io.Copy(w, r.Body)
	})
	for _, proto := range []string{"http/1.1", "h2c", "https", "h2"} {
		t.Run(proto, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(handler)
			srv.Config.Protocols = new(http.Protocols)
			srv.Config.Protocols.SetHTTP1(true)
			srv.Config.Protocols.SetUnencryptedHTTP2(proto == "h2c")
			srv.Config.Protocols.SetHTTP2(proto == "h2")
			srv.EnableHTTP2 = proto == "h2"
			if proto == "https" || proto == "h2" {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			tr := srv.Client().Transport.(*http.Transport).Clone()
			defer tr.CloseIdleConnections()
			tr.Protocols = new(http.Protocols)
			switch proto {
			case "h2c":
				tr.Protocols.SetUnencryptedHTTP2(true)
			case "h2":
				tr.Protocols.SetHTTP2(true)
			default:
				tr.Protocols.SetHTTP1(true)
			}
			var used atomic.Value
			client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				resp, err := tr.RoundTrip(r)
				if err == nil {
					used.Store(resp.Proto)
				}
				return resp, err
			})}
			send := func(url, body string) error {
				h := &HTTP{Client: client, URL: srv.URL + url, Body: body, Check: Echo}
				return h.Send(context.Background())
			}
			require.NoError(t, send("/", "hello"))
			assert.Equal(t, map[bool]string{true: "HTTP/2.0", false: "HTTP/1.1"}[proto == "h2" || proto == "h2c"], used.Load())
			err := send("/?fail", "hello")
			assert.Equal(t, "503", Reason(err), "%v", err)
			assert.ErrorContains(t, err, "status 503 Service Unavailable: failing")
			err = (&HTTP{Client: client, URL: srv.URL, Body: "a", Check: func(string, []byte) error { return Echo("b", []byte("a")) }}).Send(context.Background())
			assert.Equal(t, "wrong body", Reason(err), "%v", err)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
