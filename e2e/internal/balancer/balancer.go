// Package balancer is a TCP load balancer that follows a Service's
// EndpointSlices the way kube-proxy does: it sends each new connection to
// one of the endpoints that are ready, applies each change a sync delay
// after the watch delivered it (kube-proxy's --iptables-min-sync-period,
// 1 s by default, bounds how soon a change reaches the rules), and leaves
// established connections alone. It sends to 127.0.0.1:<endpoint port>,
// since the pods use hostNetwork on loopback, and records which pod each
// connection and each forwarded chunk of request bytes went to.
package balancer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/lameduck/lameduck/e2e/internal/kube"
)

// DefaultSyncDelay is kube-proxy's default minimum sync period.
const DefaultSyncDelay = time.Second

// PodStats is what the balancer saw of one pod. Zero times mean never.
type PodStats struct {
	Conns        int       // connections sent to the pod
	LastConn     time.Time // when the last connection was sent to it
	LastForward  time.Time // when request bytes were last forwarded to it
	SliceReady   time.Time // when the watch first showed it ready
	SliceUnready time.Time // when the watch first showed it not ready after ready (or gone)
	Removed      time.Time // when it left the balancer's rotation
}

// Balancer listens on 127.0.0.1 and balances connections over the ready
// endpoints of one Service. Create it with [New], feed it with
// [Balancer.Follow], end it with [Balancer.Close].
type Balancer struct {
	syncDelay time.Duration
	ln        net.Listener
	updates   chan update

	mu       sync.Mutex
	rotation []backend
	next     int
	pods     map[string]*PodStats
	conns    map[net.Conn]struct{}
	refused  int
	closed   bool

	wg sync.WaitGroup
}

type backend struct {
	pod  string
	port int
}

// update is the ready set the watch showed at a time, due syncDelay later.
type update struct {
	due   time.Time
	ready []backend
}

// New starts a balancer on 127.0.0.1 with the given sync delay.
func New(syncDelay time.Duration) (*Balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("balancer: %w", err)
	}
	b := &Balancer{syncDelay: syncDelay, ln: ln, updates: make(chan update, 1024),
		pods: map[string]*PodStats{}, conns: map[net.Conn]struct{}{}}
	b.wg.Add(2)
	go b.accept()
	go b.apply()
	return b, nil
}

// Addr is the address clients connect to.
func (b *Balancer) Addr() string { return b.ln.Addr().String() }

// Stats returns a copy of what the balancer saw of each pod.
func (b *Balancer) Stats() map[string]PodStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := make(map[string]PodStats, len(b.pods))
	for k, v := range b.pods {
		m[k] = *v
	}
	return m
}

// Refused is the number of connections closed because no endpoint was
// ready or the chosen one could not be reached.
func (b *Balancer) Refused() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refused
}

// Rotation returns the pods new connections are sent to now.
func (b *Balancer) Rotation() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var pods []string
	for _, be := range b.rotation {
		pods = append(pods, be.pod)
	}
	return pods
}

func (b *Balancer) podLocked(name string) *PodStats {
	s := b.pods[name]
	if s == nil {
		s = &PodStats{}
		b.pods[name] = s
	}
	return s
}

// Follow watches the EndpointSlices of service in the default namespace
// and feeds their ready endpoints to the balancer, until ctx is done. A
// watch the server ends is started again from the last resource version.
// It returns ctx's error, or the watch's error.
func (b *Balancer) Follow(ctx context.Context, api *kube.Client, service string) error {
	slices := map[string]*discoveryv1.EndpointSlice{}
	rv := ""
	for {
		q := url.Values{"labelSelector": {discoveryv1.LabelServiceName + "=" + service}}
		if rv != "" {
			q.Set("resourceVersion", rv)
		}
		err := api.Watch(ctx, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", q, func(ev kube.Event) error {
			var s discoveryv1.EndpointSlice
			if err := json.Unmarshal(ev.Object, &s); err != nil {
				return fmt.Errorf("balancer: %s event: %w", ev.Type, err)
			}
			switch ev.Type {
			case "ADDED", "MODIFIED":
				slices[s.Name] = &s
			case "DELETED":
				delete(slices, s.Name)
			case "ERROR":
				return fmt.Errorf("balancer: watch error: %s", ev.Object)
			}
			rv = s.ResourceVersion
			b.observe(ev.At, slices)
			return nil
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return err
		}
	}
}

// observe records the watch's view at time at and queues the ready set.
func (b *Balancer) observe(at time.Time, slices map[string]*discoveryv1.EndpointSlice) {
	var ready []backend
	seen := map[string]bool{}
	b.mu.Lock()
	for _, s := range slices {
		if len(s.Ports) == 0 || s.Ports[0].Port == nil {
			continue
		}
		port := int(*s.Ports[0].Port)
		for _, ep := range s.Endpoints {
			if ep.TargetRef == nil {
				continue
			}
			pod := ep.TargetRef.Name
			seen[pod] = true
			st := b.podLocked(pod)
			// A nil ready condition means ready (discovery/v1 docs).
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				ready = append(ready, backend{pod, port})
				if st.SliceReady.IsZero() {
					st.SliceReady = at
				}
			} else if !st.SliceReady.IsZero() && st.SliceUnready.IsZero() {
				st.SliceUnready = at
			}
		}
	}
	for pod, st := range b.pods {
		if !seen[pod] && !st.SliceReady.IsZero() && st.SliceUnready.IsZero() {
			st.SliceUnready = at
		}
	}
	b.mu.Unlock()
	sort.Slice(ready, func(i, j int) bool { return ready[i].pod < ready[j].pod })
	b.updates <- update{due: at.Add(b.syncDelay), ready: ready}
}

// apply applies the queued ready sets, each when it is due, in order.
func (b *Balancer) apply() {
	defer b.wg.Done()
	for u := range b.updates {
		time.Sleep(time.Until(u.due))
		now := time.Now()
		b.mu.Lock()
		in := map[string]bool{}
		for _, be := range u.ready {
			in[be.pod] = true
		}
		for _, be := range b.rotation {
			if !in[be.pod] {
				b.podLocked(be.pod).Removed = now
			}
		}
		b.rotation = u.ready
		b.mu.Unlock()
	}
}

func (b *Balancer) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			c.Close()
			return
		}
		b.conns[c] = struct{}{}
		b.wg.Add(1)
		b.mu.Unlock()
		go b.serve(c)
	}
}

// pick chooses the next ready backend, round robin, and records it.
func (b *Balancer) pick() (backend, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.rotation) == 0 {
		b.refused++
		return backend{}, false
	}
	be := b.rotation[b.next%len(b.rotation)]
	b.next++
	st := b.podLocked(be.pod)
	st.Conns++
	st.LastConn = time.Now()
	return be, true
}

func (b *Balancer) serve(c net.Conn) {
	defer b.wg.Done()
	defer func() {
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
		c.Close()
	}()
	be, ok := b.pick()
	if !ok {
		return
	}
	up, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(be.port), 5*time.Second)
	if err != nil {
		b.mu.Lock()
		b.refused++
		b.mu.Unlock()
		return
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		up.Close()
		return
	}
	b.conns[up] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.conns, up)
		b.mu.Unlock()
		up.Close()
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(c, up)
		closeWrite(c)
	}()
	b.forward(up, c, be.pod)
	closeWrite(up)
	<-done
}

// forward copies client bytes to the pod, stamping each chunk.
func (b *Balancer) forward(dst, src net.Conn, pod string) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			b.mu.Lock()
			b.podLocked(pod).LastForward = time.Now()
			b.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// Close stops accepting, closes every connection and waits for the
// balancer's goroutines. Call it after Follow has returned.
func (b *Balancer) Close() error {
	b.mu.Lock()
	b.closed = true
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	err := b.ln.Close()
	close(b.updates)
	b.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
