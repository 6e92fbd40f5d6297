package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lameduck/lameduck/e2e/internal/kube"
	"github.com/lameduck/lameduck/e2e/internal/rig"
)

const podsPath = "/api/v1/namespaces/default/pods"

func createPod(ctx context.Context, t *testing.T, r *rig.Rig, pod *corev1.Pod) {
	t.Helper()
	pod.Namespace = "default"
	pod.Spec.NodeName = r.Node
	if err := r.API.Create(ctx, podsPath, pod, nil); err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
}

// deletePod deletes the pod through the API with its own grace period and
// returns the time just before the request.
func deletePod(ctx context.Context, t *testing.T, r *rig.Rig, name string) time.Time {
	t.Helper()
	at := time.Now()
	if err := r.API.Delete(ctx, podsPath+"/"+name, nil); err != nil {
		t.Fatalf("delete pod %s: %v", name, err)
	}
	return at
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitReady polls the pod every 100 ms until it is Ready, for at most 90 s.
func waitReady(ctx context.Context, t *testing.T, r *rig.Rig, name string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var p corev1.Pod
		err := r.API.Get(ctx, podsPath+"/"+name, &p)
		if err == nil && isReady(&p) {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("pod %s not ready after 90 s: %v; status %+v", name, err, p.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// podEnd is how a pod's container ended, from the pod watch.
type podEnd struct {
	ExitCode   int32
	Reason     string
	UID        string
	App        string // its app.kubernetes.io/name label
	Node, IP   string
	Created    time.Time // when the watch first showed the pod
	Deleting   time.Time // when the watch first showed its deletionTimestamp
	Terminated time.Time // when the watch first showed the container terminated
	Deleted    time.Time // when the watch showed the pod deleted
}

// podWatcher records, from the pod watch, how each pod's first container
// ended: the exit code the kubelet reported before it deleted the pod.
type podWatcher struct {
	mu   sync.Mutex
	ends map[string]*podEnd
	done chan struct{}
}

func watchPods(ctx context.Context, t *testing.T, r *rig.Rig, selector string) *podWatcher {
	w := &podWatcher{ends: map[string]*podEnd{}, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			err := r.API.Watch(ctx, podsPath, url.Values{"labelSelector": {selector}}, w.event)
			if err != nil && ctx.Err() == nil {
				t.Errorf("pod watch: %v", err)
				return
			}
		}
	}()
	return w
}

func (w *podWatcher) event(ev kube.Event) error {
	var p corev1.Pod
	if err := json.Unmarshal(ev.Object, &p); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.ends[p.Name]
	if e != nil && e.UID != string(p.UID) {
		// A new pod of the same name (a StatefulSet's): the old one's
		// record stays, under a name of its own.
		w.ends[p.Name+"#"+e.UID[:8]] = e
		e = nil
	}
	if e == nil {
		e = &podEnd{ExitCode: -1, Created: ev.At, UID: string(p.UID)}
		w.ends[p.Name] = e
	}
	e.Node, e.App = p.Spec.NodeName, p.Labels["app.kubernetes.io/name"]
	if p.Status.PodIP != "" {
		e.IP = p.Status.PodIP
	}
	if p.DeletionTimestamp != nil && e.Deleting.IsZero() {
		e.Deleting = ev.At
	}
	for _, cs := range p.Status.ContainerStatuses {
		if term := cs.State.Terminated; term != nil && e.Terminated.IsZero() {
			e.ExitCode, e.Reason, e.Terminated = term.ExitCode, term.Reason, ev.At
		}
	}
	if ev.Type == "DELETED" {
		e.Deleted = ev.At
	}
	return nil
}

// live returns the pods the watch has shown that are not being deleted.
func (w *podWatcher) live() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var names []string
	for n, e := range w.ends {
		if e.Deleted.IsZero() && e.Deleting.IsZero() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func (w *podWatcher) end(name string) podEnd {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.ends[name]; e != nil {
		return *e
	}
	return podEnd{ExitCode: -1}
}

// waitGone waits until the watch has shown every pod deleted, for at most
// timeout.
func (w *podWatcher) waitGone(t *testing.T, timeout time.Duration, names ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, n := range names {
		for w.end(n).Deleted.IsZero() {
			if time.Now().After(deadline) {
				t.Fatalf("pod %s not deleted within %v: %+v", n, timeout, w.end(n))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

var klogHeader = regexp.MustCompile(`^[IWEF](\d{4} \d{2}:\d{2}:\d{2}\.\d{6})`)

// kubeletLine finds the first line of the first node's kubelet log after
// since with the quoted message msg about pod, and returns its time.
func kubeletLine(r *rig.Rig, since time.Time, pod, msg string) (time.Time, error) {
	at, _, err := kubeletLineIn(r.KubeletLog, since, pod, msg)
	return at, err
}

// kubeletLineIn finds the first line of the kubelet log at path after
// since with the quoted message msg about pod, and returns its time and
// the line. klog has no year: the rig runs the kubelet with TZ=UTC, and
// the year is since's.
func kubeletLineIn(path string, since time.Time, pod, msg string) (time.Time, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `"`+msg+`"`) || !strings.Contains(line, `pod="default/`+pod+`"`) {
			continue
		}
		at, ok := klogTime(line, since.UTC().Year())
		if !ok {
			continue
		}
		if !at.Before(since.Add(-time.Second)) {
			return at, line, nil
		}
	}
	return time.Time{}, "", errors.New("not found")
}

// kubeletStop is how the kubelet stopped one pod's container, from its
// log: how long its preStop hook ran, and the time from the stop call
// that follows the hook (SIGTERM, through the runtime) to the container's
// exit. ok is false unless the log has both ends of the stop.
type kubeletStop struct {
	hook, stop time.Duration
	ok         bool
}

// kubeletStopMessages are the kubelet's log messages kubeletStops reads.
var kubeletStopMessages = []string{"Running preStop hook", "PreStop hook completed", "Killing container with a grace period", "Container exited normally"}

var podUIDField = regexp.MustCompile(`podUID="([^"]+)"`)

// kubeletStops reads every node's kubelet log once and returns the stop
// of each pod it tells of, by UID. klog has no year: the logs are of the
// rig's run, in year.
func kubeletStops(r *rig.Rig, year int) map[string]kubeletStop {
	seen := map[string]map[string]time.Time{} // UID => message => first time
	for _, n := range r.Nodes {
		f, err := os.Open(n.KubeletLog)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			uid := podUIDField.FindStringSubmatch(line)
			if uid == nil {
				continue
			}
			for _, msg := range kubeletStopMessages {
				if !strings.Contains(line, `"`+msg+`"`) {
					continue
				}
				if seen[uid[1]] == nil {
					seen[uid[1]] = map[string]time.Time{}
				}
				if _, ok := seen[uid[1]][msg]; !ok {
					if at, ok := klogTime(line, year); ok {
						seen[uid[1]][msg] = at
					}
				}
			}
		}
		f.Close()
	}
	stops := map[string]kubeletStop{}
	for uid, at := range seen {
		var st kubeletStop
		kill, killed := at["Killing container with a grace period"]
		exit, exited := at["Container exited normally"]
		if killed && exited {
			st.stop, st.ok = exit.Sub(kill), true
		}
		run, ran := at["Running preStop hook"]
		done, completed := at["PreStop hook completed"]
		if ran && completed {
			st.hook = done.Sub(run)
		}
		stops[uid] = st
	}
	return stops
}

// klogTime returns the time in a klog line's header, in year (UTC).
func klogTime(line string, year int) (time.Time, bool) {
	m := klogHeader.FindStringSubmatch(line)
	if m == nil {
		return time.Time{}, false
	}
	at, err := time.Parse("2006 0102 15:04:05.000000", fmt.Sprint(year)+" "+m[1])
	return at, err == nil
}

// events returns the reasons of the API's events about pod.
func events(ctx context.Context, r *rig.Rig, pod string) ([]string, error) {
	var list corev1.EventList
	q := url.Values{"fieldSelector": {"involvedObject.name=" + pod}}
	if err := r.API.Get(ctx, "/api/v1/namespaces/default/events?"+q.Encode(), &list); err != nil {
		return nil, err
	}
	var reasons []string
	for _, e := range list.Items {
		reasons = append(reasons, e.Reason)
	}
	return reasons, nil
}

func meta(name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels}
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	sort.Ints(ports)
	return ports
}
