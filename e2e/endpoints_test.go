package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/lameduck/lameduck/e2e/internal/kube"
	"github.com/lameduck/lameduck/e2e/internal/rig"
)

// endpointState is one endpoint's conditions in its EndpointSlice, or
// gone when no slice lists it any more.
type endpointState struct {
	at                          time.Time
	ready, serving, terminating bool
	gone                        bool
}

func (s endpointState) String() string {
	if s.gone {
		return "gone"
	}
	return fmt.Sprintf("ready=%t serving=%t terminating=%t", s.ready, s.serving, s.terminating)
}

// sliceWatcher records, from the EndpointSlice watch of the default
// namespace, each pod's endpoint conditions over time, per Service.
type sliceWatcher struct {
	mu      sync.Mutex
	history map[string][]endpointState // by podKey
	members map[string]map[string]bool // slice name => pods it lists
	done    chan struct{}
}

func watchSlices(ctx context.Context, t *testing.T, r *rig.Rig) *sliceWatcher {
	w := &sliceWatcher{history: map[string][]endpointState{}, members: map[string]map[string]bool{}, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			err := r.API.Watch(ctx, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", nil, w.event)
			if err != nil && ctx.Err() == nil {
				t.Errorf("EndpointSlice watch: %v", err)
				return
			}
		}
	}()
	return w
}

func (w *sliceWatcher) event(ev kube.Event) error {
	var s discoveryv1.EndpointSlice
	if err := json.Unmarshal(ev.Object, &s); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := map[string]bool{}
	if ev.Type != "DELETED" {
		for _, e := range s.Endpoints {
			if e.TargetRef == nil {
				continue
			}
			pod := podKey(e.TargetRef.Name, string(e.TargetRef.UID))
			now[pod] = true
			st := endpointState{at: ev.At, ready: isTrue(e.Conditions.Ready), serving: isTrue(e.Conditions.Serving), terminating: isTrue(e.Conditions.Terminating)}
			w.record(pod, st)
		}
	}
	for pod := range w.members[s.Name] {
		if !now[pod] {
			w.record(pod, endpointState{at: ev.At, gone: true})
		}
	}
	w.members[s.Name] = now
	return nil
}

// record appends st to pod's history if it differs from the last state.
func (w *sliceWatcher) record(pod string, st endpointState) {
	h := w.history[pod]
	if len(h) > 0 {
		last := h[len(h)-1]
		last.at = st.at
		if last == st {
			return
		}
	}
	w.history[pod] = append(h, st)
}

func isTrue(b *bool) bool { return b != nil && *b }

// podKey names one pod among those of the same name (a StatefulSet's) by
// its UID.
func podKey(name, uid string) string { return name + "#" + uid[:min(8, len(uid))] }

// timeline returns pod's endpoint history in seconds after ref.
func (w *sliceWatcher) timeline(pod string, ref time.Time) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	for _, st := range w.history[pod] {
		fmt.Fprintf(&b, "  %+7.3f s  %s\n", st.at.Sub(ref).Seconds(), st)
	}
	return b.String()
}

// notServing returns when pod's endpoint was first seen not serving (or
// gone) after ref, or the zero time.
func (w *sliceWatcher) notServing(pod string, ref time.Time) time.Time {
	return w.firstAfter(pod, ref, func(st endpointState) bool { return st.gone || !st.serving })
}

// readyAt returns when pod's endpoint was first seen ready after ref, or
// the zero time.
func (w *sliceWatcher) readyAt(pod string, ref time.Time) time.Time {
	return w.firstAfter(pod, ref, func(st endpointState) bool { return st.ready })
}

// firstAfter returns when pod's endpoint was first seen in a state that
// matches, at ref or after, or the zero time.
func (w *sliceWatcher) firstAfter(pod string, ref time.Time, match func(endpointState) bool) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range w.history[pod] {
		if !st.at.Before(ref) && match(st) {
			return st.at
		}
	}
	return time.Time{}
}
