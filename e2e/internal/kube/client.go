// Package kube is the small part of the Kubernetes REST API that the
// end-to-end tests use: create, get, delete and watch objects with a bearer
// token over TLS. It speaks JSON with the types of k8s.io/api, and has no
// client-go, informers or retries: a watch that ends is the caller's to
// restart, and an error is returned as it came.
package kube

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Sentinels wrapped by the errors of requests answered 404 and 429 (an
// eviction a PodDisruptionBudget does not allow now).
var (
	ErrNotFound        = errors.New("kube: not found")
	ErrTooManyRequests = errors.New("kube: too many requests")
)

// Client calls one API server. Create it with [New]; it is safe for
// concurrent use.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// New returns a client of the API server at base (https://HOST:PORT) that
// trusts the PEM certificates in caPEM and authenticates with token.
func New(base string, caPEM []byte, token string) (*Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("kube: no certificate in the CA bundle")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
	return &Client{base: base, token: token, hc: &http.Client{Transport: tr}}, nil
}

// Close closes the client's idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func (c *Client) request(ctx context.Context, method, path string, in any) (*http.Response, error) {
	return c.requestType(ctx, method, path, "application/json", in)
}

func (c *Client) requestType(ctx context.Context, method, path, contentType string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("kube: encode: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("kube: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		err := fmt.Errorf("kube: %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
		switch resp.StatusCode {
		case http.StatusNotFound:
			err = fmt.Errorf("%w: %w", ErrNotFound, err)
		case http.StatusTooManyRequests:
			err = fmt.Errorf("%w: %w", ErrTooManyRequests, err)
		}
		return nil, err
	}
	return resp, nil
}

// Do sends in (JSON, or no body when nil) and decodes the answer into out
// unless out is nil.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.request(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("kube: decode %s: %w", path, err)
	}
	return nil
}

// Create POSTs obj to the collection path and decodes the created object
// into out (nil to discard it).
func (c *Client) Create(ctx context.Context, path string, obj, out any) error {
	return c.Do(ctx, http.MethodPost, path, obj, out)
}

// Patch applies patch to the object at path as a JSON merge patch (RFC
// 7386), as "kubectl patch --type merge" does.
func (c *Client) Patch(ctx context.Context, path string, patch any) error {
	resp, err := c.requestType(ctx, http.MethodPatch, path, "application/merge-patch+json", patch)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// Get decodes the object at path into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.Do(ctx, http.MethodGet, path, nil, out)
}

// Delete deletes the object at path. A nil grace uses the object's own
// grace period; 0 deletes at once (force).
func (c *Client) Delete(ctx context.Context, path string, grace *int64) error {
	if grace != nil {
		path += "?gracePeriodSeconds=" + strconv.FormatInt(*grace, 10)
	}
	return c.Do(ctx, http.MethodDelete, path, nil, nil)
}

// Event is one watch event: its type (ADDED, MODIFIED, DELETED, BOOKMARK,
// ERROR), the raw object, and when the client read it.
type Event struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
	At     time.Time       `json:"-"`
}

// Watch watches the collection path with the query (labelSelector,
// fieldSelector, resourceVersion...) and calls fn with each event, stamped
// with the time it was read, until ctx is done, the server ends the watch,
// or fn returns an error. Without a resourceVersion the server first sends
// an ADDED event for every existing object. It returns nil when the server
// ended the watch, and ctx's error when ctx ended it.
func (c *Client) Watch(ctx context.Context, path string, query url.Values, fn func(Event) error) error {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("watch", "1")
	q.Set("allowWatchBookmarks", "false")
	resp, err := c.request(ctx, http.MethodGet, path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("kube: watch %s: %w", path, err)
		}
		ev.At = time.Now()
		if err := fn(ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return sc.Err()
}
