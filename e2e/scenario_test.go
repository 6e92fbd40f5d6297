package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	_ "modernc.org/sqlite" // pure-Go SQLite, to count the services' rows

	"github.com/lameduck/lameduck/e2e/internal/load"
	"github.com/lameduck/lameduck/e2e/internal/rig"
	"github.com/lameduck/lameduck/internal/loadtest"
)

// Load of each workload: open-loop, bounded in count and in time. Every
// strategy gets the same.
const (
	keepAliveRate = 30                    // requests per second, over keep-alive connections, from the first node
	newConnRate   = 15                    // requests per second, a new connection each, from the second node
	loadTimeout   = 15 * time.Second      // per request
	workTime      = 20 * time.Millisecond // the server waits this long per request
)

const (
	deploymentsPath  = "/apis/apps/v1/namespaces/default/deployments"
	statefulSetsPath = "/apis/apps/v1/namespaces/default/statefulsets"
	servicesPath     = "/api/v1/namespaces/default/services"
)

// scenario is the strategies' workloads of one manifest, created and
// Available, with the pod and EndpointSlice watches running.
type scenario struct {
	t         *testing.T
	r         *rig.Rig
	ctx       context.Context
	workloads []*workload
	addrs     map[string]string // strategy => ClusterIP:port
	services  map[string]*corev1.Service
	pods      *podWatcher
	slices    *sliceWatcher
	loads     map[string]*running
	lastConn  map[string]time.Time // pod IP => last new connection conntrack shows reaching it
	viaLB     bool                 // the load goes through a load balancer in the lab
	stop      context.CancelFunc
}

// running is the load of one workload: HTTP keep-alive and
// new-connection clients, or one gRPC client.
type running struct {
	keepAlive, newConn *load.HTTP
	grpc               *load.GRPC
	results            [2]chan *loadtest.Result
}

// newScenario creates one Deployment and Service per strategy from the
// manifest, named with tag, and waits until every Deployment is rolled
// out.
func newScenario(t *testing.T, r *rig.Rig, tag string, m *manifest, image string) *scenario {
	return newScenarioOf(t, r, tag, m, image, strategies, false, nil)
}

// newScenarioOf is newScenario for the given strategies, as a StatefulSet
// of one replica each when statefulSet is true, each workload changed by
// adapt (unless nil) before it is created.
func newScenarioOf(t *testing.T, r *rig.Rig, tag string, m *manifest, image string, strats []string, statefulSet bool, adapt func(*workload)) *scenario {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	watchCtx, stop := context.WithCancel(ctx)
	s := &scenario{t: t, r: r, ctx: ctx, addrs: map[string]string{}, services: map[string]*corev1.Service{}, loads: map[string]*running{}, lastConn: map[string]time.Time{}, stop: stop}
	s.pods = watchPods(watchCtx, t, r, "e2e=workload")
	s.slices = watchSlices(watchCtx, t, r)
	t.Cleanup(func() {
		stop()
		<-s.pods.done
		<-s.slices.done
	})
	for _, st := range strats {
		w := m.workload(t, r, tag, st, image)
		if adapt != nil {
			adapt(w)
		}
		var svc corev1.Service
		require.NoError(t, r.API.Create(ctx, servicesPath, w.service, &svc))
		if statefulSet {
			w.path = statefulSetsPath
			require.NoError(t, r.API.Create(ctx, w.path, w.statefulSet(), nil))
		} else {
			require.NoError(t, r.API.Create(ctx, w.path, w.deployment, nil))
		}
		s.addrs[st], s.services[st] = w.addr(&svc), &svc
		s.workloads = append(s.workloads, w)
		t.Cleanup(func() {
			_ = r.API.Delete(context.Background(), w.path+"/"+w.deployment.Name, nil)
			_ = r.API.Delete(context.Background(), servicesPath+"/"+w.service.Name, nil)
		})
	}
	for _, w := range s.workloads {
		s.waitRolledOut(w, 3*time.Minute)
	}
	s.waitProgrammed(time.Minute)
	return s
}

// waitProgrammed waits until every node's kube-proxy accepts connections
// to every workload's ClusterIP: a Service that kube-proxy has not yet
// programmed refuses them, which would count as failures of the strategy
// under load. It only connects and closes, so that no request is recorded.
func (s *scenario) waitProgrammed(timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for _, n := range s.r.Nodes {
		for st, addr := range s.addrs {
			for {
				ctx, cancel := context.WithTimeout(s.ctx, time.Second)
				c, err := n.Net.Dial(ctx, "tcp", addr)
				cancel()
				if err == nil {
					c.Close()
					break
				}
				if time.Now().After(deadline) {
					s.t.Fatalf("%s: %s not reachable through kube-proxy within %v: %v", st, addr, timeout, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

// waitRolledOut waits until the Deployment (or StatefulSet) has observed
// its latest generation, every replica is updated and available, and no
// other pod of it remains.
func (s *scenario) waitRolledOut(w *workload, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, status, err := w.rolledOut(s.ctx, s.r)
		if err == nil && done {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s not rolled out within %v: %v; status %s", w.deployment.Name, timeout, err, status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startLoad starts each workload's load: keep-alive POSTs from the first
// node, POSTs on a new connection each from the second, both to the
// ClusterIP through the nodes' kube-proxies.
func (s *scenario) startLoad(ctx context.Context) {
	first, second := s.r.Nodes[0], s.r.Nodes[len(s.r.Nodes)-1]
	s.startLoadTo(ctx, s.addrs, first.Net.Dial, second.Net.Dial)
}

// startLoadTo starts each workload's load to addrs[strategy]: keep-alive
// POSTs dialed with keepAlive, POSTs on a new connection each dialed with
// newConn (nil: from the lab).
func (s *scenario) startLoadTo(ctx context.Context, addrs map[string]string, keepAlive, newConn load.Dial) {
	for _, w := range s.workloads {
		addr := addrs[w.strategy]
		l := &running{
			keepAlive: load.NewHTTP(addr, workTime, 16, keepAlive),
			newConn:   load.NewHTTP(addr, workTime, 0, newConn),
		}
		for i, c := range []struct {
			h    *load.HTTP
			rate int
		}{{l.keepAlive, keepAliveRate}, {l.newConn, newConnRate}} {
			l.results[i] = make(chan *loadtest.Result, 1)
			go func() { l.results[i] <- s.runLoad(ctx, c.rate, c.h.Send) }()
		}
		s.loads[w.strategy] = l
	}
}

// startGRPCLoad starts each workload's load: unary Work.Do calls over 6
// connections from the first node to the ClusterIP.
func (s *scenario) startGRPCLoad(ctx context.Context) {
	first := s.r.Nodes[0]
	for _, w := range s.workloads {
		g, err := load.NewGRPC(s.addrs[w.strategy], workTime, 6, first.Net.Dial)
		require.NoError(s.t, err)
		l := &running{grpc: g}
		l.results[0] = make(chan *loadtest.Result, 1)
		go func() { l.results[0] <- s.runLoad(ctx, keepAliveRate, g.Send) }()
		s.loads[w.strategy] = l
	}
}

// runLoad sends open-loop load with send at rate per second, for at most
// 300 s, until ctx ends. A configuration error is reported on the test
// and returns an empty result.
func (s *scenario) runLoad(ctx context.Context, rate int, send func(context.Context) error) *loadtest.Result {
	res, err := loadtest.Run(ctx, loadtest.Config{Rate: float64(rate), Max: rate * 300, Timeout: loadTimeout}, send)
	if !assert.NoError(s.t, err) {
		return &loadtest.Result{Failures: map[string]int{}}
	}
	return res
}

// waitLoad waits for every workload's load to end (cancel its context
// first) and returns the results per strategy.
func (s *scenario) waitLoad() map[string]*loadtest.Result {
	out := map[string]*loadtest.Result{}
	for st, l := range s.loads {
		if l.grpc != nil {
			out[st] = <-l.results[0]
			require.NoError(s.t, l.grpc.Close())
			continue
		}
		res := &loadtest.Result{Failures: map[string]int{}}
		for i, h := range []*load.HTTP{l.keepAlive, l.newConn} {
			r := <-l.results[i]
			h.Close()
			res.Sent, res.OK = res.Sent+r.Sent, res.OK+r.OK
			for k, v := range r.Failures {
				res.Failures[k] += v
			}
			res.All = append(res.All, r.All...)
		}
		// Both in the order they ended, for First.
		slices.SortStableFunc(res.All, func(a, b loadtest.Failure) int { return a.At.Compare(b.At) })
		out[st] = res
		if s.viaLB {
			continue // the balancer's own connections reach the nodes
		}
		// Where each new connection went, while conntrack still holds
		// them.
		targets := connTargets(s.ctx, s.t, s.r.Nodes[len(s.r.Nodes)-1], s.addrs[st])
		for ip, at := range lastConns(l.newConn.Conns(), targets) {
			s.lastConn[ip] = at
		}
	}
	return out
}

// scaleToZero ends every pod of the workloads, so that their journals are
// flushed and their rows can be counted, and waits until they are gone.
func (s *scenario) scaleToZero() {
	s.t.Helper()
	for _, w := range s.workloads {
		require.NoError(s.t, s.r.API.Patch(s.ctx, w.path+"/"+w.deployment.Name, map[string]any{"spec": map[string]any{"replicas": 0}}))
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(s.pods.live()) > 0 || s.terminating() > 0 {
		if time.Now().After(deadline) {
			s.t.Fatalf("pods left after scaling to zero: %v", s.pods.live())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// terminating counts the pods being deleted that the watch has not yet
// shown deleted.
func (s *scenario) terminating() int {
	s.pods.mu.Lock()
	defer s.pods.mu.Unlock()
	n := 0
	for _, e := range s.pods.ends {
		if e.Deleted.IsZero() {
			n++
		}
	}
	return n
}

// podsOf returns the names of the workload's pods the watch has shown.
func (s *scenario) podsOf(w *workload) []string {
	s.pods.mu.Lock()
	defer s.pods.mu.Unlock()
	var names []string
	for n, e := range s.pods.ends {
		if e.App == w.deployment.Name {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// outcome is one strategy's line in a scenario's table.
type outcome struct {
	strategy     string
	res          *loadtest.Result
	rows, lines  int
	terminations []termination
}

// termination is how one pod the scenario ended went.
type termination struct {
	pod        string
	key        string // podKey, for the EndpointSlice history
	exitCode   int32
	reason     string
	exitAfter  time.Duration // deletionTimestamp seen -> container terminated seen
	notServing time.Duration // deletionTimestamp seen -> endpoint not serving
	lastConn   time.Duration // API call -> last new connection kube-proxy sent it
	connSeen   bool          // conntrack showed a new connection reaching it
	deleting   time.Time
	kubelet    kubeletStop // the kubelet's view of the stop
}

func (o outcome) sigkills() int {
	n := 0
	for _, tm := range o.terminations {
		if tm.exitCode == 137 {
			n++
		}
	}
	return n
}

func (o outcome) lost() int { return o.res.OK - min(o.rows, o.lines) }

// outcomes gathers each strategy's results, its writes and how the pods
// for which ended is true ended. called returns the time of the API call
// that ended a pod (nil: when its deletionTimestamp was seen).
func (s *scenario) outcomes(results map[string]*loadtest.Result, ended func(pod string) bool, called func(pod string) time.Time) []outcome {
	var out []outcome
	stops := kubeletStops(s.r, time.Now().UTC().Year())
	for _, w := range s.workloads {
		o := outcome{strategy: w.strategy, res: results[w.strategy]}
		dirs, _ := filepath.Glob(filepath.Join(w.dataDir, "*"))
		for _, d := range dirs {
			n, l := countWrites(s.t, d)
			o.rows, o.lines = o.rows+n, o.lines+l
		}
		for _, p := range s.podsOf(w) {
			if !ended(p) {
				continue
			}
			e := s.pods.end(p)
			tm := termination{pod: p, exitCode: e.ExitCode, reason: e.Reason, deleting: e.Deleting, kubelet: stops[e.UID]}
			if !e.Deleting.IsZero() && !e.Terminated.IsZero() {
				tm.exitAfter = e.Terminated.Sub(e.Deleting)
			}
			name, _, _ := strings.Cut(p, "#")
			tm.key = podKey(name, e.UID)
			if ns := s.slices.notServing(tm.key, e.Deleting); !ns.IsZero() {
				tm.notServing = ns.Sub(e.Deleting)
			}
			call := e.Deleting
			if called != nil {
				call = called(p)
			}
			if last, ok := s.lastConn[e.IP]; ok {
				tm.lastConn, tm.connSeen = last.Sub(call), true
			}
			o.terminations = append(o.terminations, tm)
		}
		out = append(out, o)
	}
	return out
}

// table formats the scenario × strategy table.
func table(name string, outs []outcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (per old pod, seconds after its deletion was seen; last conn: after the API call; hook+stop: the kubelet's preStop hook, and its stop call to the exit):\n%-9s %14s %5s %8s %20s %20s %20s %30s\n",
		name, "strategy", "failed/sent", "lost", "SIGKILL", "exit", "not serving", "last new conn", "hook+stop")
	for _, o := range outs {
		var exits, ns, lc, ks []string
		for _, tm := range o.terminations {
			exits = append(exits, fmt.Sprintf("%.1f", tm.exitAfter.Seconds()))
			ns = append(ns, fmt.Sprintf("%.1f", tm.notServing.Seconds()))
			if tm.connSeen {
				lc = append(lc, fmt.Sprintf("%.2f", tm.lastConn.Seconds()))
			} else {
				lc = append(lc, "-")
			}
			if k := tm.kubelet; k.ok {
				ks = append(ks, fmt.Sprintf("%.2f+%.2f", k.hook.Seconds(), k.stop.Seconds()))
			} else {
				ks = append(ks, "-")
			}
		}
		fmt.Fprintf(&b, "%-9s %7d/%-6d %5d %8d %20s %20s %20s %30s\n", o.strategy, o.res.Failed(), o.res.Sent, o.lost(), o.sigkills(),
			strings.Join(exits, " "), strings.Join(ns, " "), strings.Join(lc, " "), strings.Join(ks, " "))
	}
	return b.String()
}

// countWrites counts the rows in a service's database and the lines in its
// journal.
func countWrites(t *testing.T, dir string) (rows, lines int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "lameduck.db")+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.QueryRow("SELECT count(*) FROM requests").Scan(&rows), dir)
	data, err := os.ReadFile(filepath.Join(dir, "journal.log"))
	require.NoError(t, err)
	return rows, strings.Count(string(data), "\n")
}
