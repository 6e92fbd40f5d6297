package kube

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClient(t *testing.T, h http.HandlerFunc) *Client {
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), "tok")
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func TestGetAndNotFound(t *testing.T) {
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/api/v1/nodes/n" {
			http.Error(w, `{"reason":"NotFound"}`, http.StatusNotFound)
			return
		}
		fmt.Fprint(w, `{"metadata":{"name":"n"}}`)
	})
	var node struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	require.NoError(t, c.Get(context.Background(), "/api/v1/nodes/n", &node))
	assert.Equal(t, "n", node.Metadata.Name)
	err := c.Get(context.Background(), "/api/v1/nodes/other", &node)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorContains(t, err, "404")
}

func TestWatch(t *testing.T) {
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") != "1" || r.URL.Query().Get("labelSelector") != "a=b" {
			http.Error(w, "bad query", http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, `{"type":"ADDED","object":{"metadata":{"name":"x"}}}`)
		fmt.Fprintln(w, `{"type":"DELETED","object":{"metadata":{"name":"x"}}}`)
	})
	var types []string
	start := time.Now()
	err := c.Watch(context.Background(), "/api/v1/pods", map[string][]string{"labelSelector": {"a=b"}}, func(ev Event) error {
		types = append(types, ev.Type)
		assert.False(t, ev.At.Before(start), "stamped on arrival")
		return nil
	})
	require.NoError(t, err, "the server ended the watch")
	assert.Equal(t, []string{"ADDED", "DELETED"}, types)
}

func TestPatchAndTooManyRequests(t *testing.T) {
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch && r.Header.Get("Content-Type") == "application/merge-patch+json" {
			fmt.Fprint(w, `{}`)
			return
		}
		http.Error(w, `{"reason":"TooManyRequests"}`, http.StatusTooManyRequests)
	})
	require.NoError(t, c.Patch(context.Background(), "/apis/apps/v1/namespaces/default/deployments/d", map[string]any{"spec": map[string]any{"replicas": 1}}))
	err := c.Create(context.Background(), "/api/v1/namespaces/default/pods/p/eviction", map[string]any{}, nil)
	assert.ErrorIs(t, err, ErrTooManyRequests)
	assert.NotErrorIs(t, err, ErrNotFound)
}
