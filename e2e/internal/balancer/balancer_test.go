package balancer

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/lameduck/lameduck/e2e/internal/kube"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeAPI serves one EndpointSlice watch that sends the slices it is given.
type fakeAPI struct {
	srv    *httptest.Server
	events chan discoveryv1.EndpointSlice
}

func newFakeAPI(t *testing.T) (*fakeAPI, *kube.Client) {
	f := &fakeAPI{events: make(chan discoveryv1.EndpointSlice)}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") != "1" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case s := <-f.events:
				obj, _ := json.Marshal(s)
				fmt.Fprintf(w, "{\"type\":\"MODIFIED\",\"object\":%s}\n", obj)
				w.(http.Flusher).Flush()
			}
		}
	}))
	t.Cleanup(f.srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	c, err := kube.New(f.srv.URL, ca, "tok")
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return f, c
}

func slice(port int, ready map[string]bool) discoveryv1.EndpointSlice {
	p := int32(port)
	s := discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{Port: &p}}}
	s.Name = "s" + strconv.Itoa(port)
	for pod, r := range ready {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{"192.0.2.2"},
			Conditions: discoveryv1.EndpointConditions{Ready: &r},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: pod},
		})
	}
	return s
}

// serveName serves HTTP on 127.0.0.1 and answers with name.
func serveName(t *testing.T, name string) int {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

func get(t *testing.T, addr string) string {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + addr)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestFollowsReadyEndpointsAfterTheSyncDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	api, client := newFakeAPI(t)
	b, err := New(delay)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Follow(ctx, client, "svc") }()
	defer func() {
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
		require.NoError(t, b.Close())
	}()

	pa, pb := serveName(t, "a"), serveName(t, "b")
	api.events <- slice(pa, map[string]bool{"a": true})
	api.events <- slice(pb, map[string]bool{"b": true})
	require.Eventually(t, func() bool { return len(b.Rotation()) == 2 }, 10*time.Second, 10*time.Millisecond)
	got := map[string]int{}
	for range 10 {
		got[get(t, b.Addr())]++
	}
	assert.Equal(t, map[string]int{"a": 5, "b": 5}, got, "round robin over the ready pods")

	api.events <- slice(pa, map[string]bool{"a": false})
	require.Eventually(t, func() bool { return len(b.Rotation()) == 1 }, 10*time.Second, 10*time.Millisecond)
	for range 4 {
		assert.Equal(t, "b", get(t, b.Addr()), "a not-ready pod gets no new connection")
	}
	st := b.Stats()["a"]
	assert.False(t, st.SliceUnready.IsZero())
	assert.GreaterOrEqual(t, st.Removed.Sub(st.SliceUnready), delay, "removed a sync delay after the watch showed it")
	assert.Equal(t, 5, st.Conns)
	assert.Zero(t, b.Refused())
}

func TestRefusesWithoutReadyEndpoints(t *testing.T) {
	b, err := New(0)
	require.NoError(t, err)
	c, err := net.Dial("tcp", b.Addr())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "closed at once")
	require.NoError(t, b.Close())
	assert.Equal(t, 1, b.Refused())
}
