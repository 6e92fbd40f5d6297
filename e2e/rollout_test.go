package e2e

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	_ "modernc.org/sqlite" // pure-Go SQLite, to count the services' rows

	"github.com/lameduck/lameduck/e2e/internal/balancer"
	"github.com/lameduck/lameduck/e2e/internal/load"
	"github.com/lameduck/lameduck/e2e/internal/rig"
)

// Load of each rollout: open-loop, bounded in count and in time.
const (
	loadRate    = 50                    // requests per second
	loadTimeout = 15 * time.Second      // per request
	workTime    = 20 * time.Millisecond // the server waits this long per request
	replicas    = 3
)

// termination is what happened to one old pod, in wall-clock times.
type termination struct {
	pod                      string
	deleted                  time.Time
	sliceUnready, removed    time.Time // EndpointSlice watch; balancer's rotation (sync delay later)
	lastConn, lastForward    time.Time // last connection / client bytes the balancer sent to the pod
	lastServed               time.Time // the pod's last journal line: the last request it recorded
	preStop, sigterm, exited time.Time // app log; kubelet log; app log
	exitCode                 int32
	reason                   string
}

func TestRollingUpdate(t *testing.T) {
	for _, tc := range []struct {
		file, container, image string
	}{
		{"http.yaml", "http", rig.HTTPImage},
		{"grpc.yaml", "grpc", rig.GRPCImage},
	} {
		t.Run(tc.container, func(t *testing.T) {
			r := needRig(t)
			res := rollout(t, r, readManifest(t, tc.file), tc.container, tc.image, "")
			assert.Zero(t, res.load.Failed(), "failed requests")
			assert.Zero(t, res.refused, "connections the balancer could not place")
			assert.Equal(t, res.load.OK, res.rows, "rows = successful requests (lost or extra writes)")
			assert.Equal(t, res.load.OK, res.lines, "journal lines = successful requests (lost or extra writes)")
			for _, tm := range res.terms {
				assert.Equal(t, int32(0), tm.exitCode, "exit code of %s (%s)", tm.pod, tm.reason)
				assert.False(t, tm.preStop.IsZero(), "%s: no preStop trigger in its log", tm.pod)
			}
			for name, code := range res.newExits {
				assert.Equal(t, int32(0), code, "exit code of %s", name)
			}
		})
	}
}

// TestRollingUpdateWithoutLameduck is the control: the same rollout of
// examples/http with the strategies it is compared with fails requests,
// which shows that the rig sees failures when there are some. Their admin
// listener has no /prestop: the hook gets a 404, which the kubelet counts
// as done, and SIGTERM comes at once.
func TestRollingUpdateWithoutLameduck(t *testing.T) {
	r := needRig(t)
	m := readManifest(t, "http.yaml")
	t.Run("shutdown", func(t *testing.T) {
		// http.Server.Shutdown at SIGTERM: the listener closes while the
		// balancer still sends new connections for about its sync delay.
		res := rollout(t, r, m, "http", rig.HTTPImage, "shutdown")
		assert.Positive(t, res.load.Failed(), "failed requests")
		for _, tm := range res.terms {
			assert.Equal(t, int32(0), tm.exitCode, "exit code of %s (%s)", tm.pod, tm.reason)
		}
	})
	t.Run("none", func(t *testing.T) {
		// No signal handling: PID 1 exits 2 at SIGTERM (see
		// TestPID1UnhandledSIGTERMExits2), with its journal buffered.
		res := rollout(t, r, m, "http", rig.HTTPImage, "none")
		assert.Positive(t, res.load.Failed(), "failed requests")
		assert.Less(t, res.lines, res.load.OK, "journal lines lost")
		for _, tm := range res.terms {
			assert.Equal(t, int32(2), tm.exitCode, "exit code of %s (%s)", tm.pod, tm.reason)
		}
	})
}

// rolloutResult is what a rollout measured.
type rolloutResult struct {
	load        *load.Result
	refused     int // connections the balancer closed: no ready pod, or the pod refused
	rows, lines int // over every pod's data directory
	terms       []*termination
	newExits    map[string]int32 // exit codes of the new pods, ended after the load
}

// rollout replaces the pods of the manifest's Deployment one at a time
// under load, through the API, and returns what it measured. A non-empty
// strategy overrides the STRATEGY env of the pods.
func rollout(t *testing.T, r *rig.Rig, m *manifest, container, image, strategy string) *rolloutResult {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	svc := m.service.DeepCopy()
	svc.ObjectMeta = meta(svc.Name, svc.Labels)
	require.NoError(t, r.API.Create(ctx, "/api/v1/namespaces/default/services", svc, nil))
	t.Cleanup(func() { _ = r.API.Delete(context.Background(), "/api/v1/namespaces/default/services/"+svc.Name, nil) })

	selector := []string{}
	for k, v := range svc.Spec.Selector {
		selector = append(selector, k+"="+v)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	pods := watchPods(watchCtx, t, r, strings.Join(selector, ","))
	bal, err := balancer.New(balancer.DefaultSyncDelay)
	require.NoError(t, err)
	var followErr error
	var following sync.WaitGroup
	following.Go(func() { followErr = bal.Follow(watchCtx, r.API, svc.Name) })
	defer func() {
		stopWatch()
		following.Wait()
		<-pods.done
		require.NoError(t, bal.Close())
		assert.ErrorIs(t, followErr, context.Canceled)
	}()

	newPod := func(name string) (*corev1.Pod, string) {
		ports := freePorts(t, 2)
		data := dataDir(t, r, name)
		return m.pod(t, podSpec{name: name, image: image, traffic: ports[0], admin: ports[1], data: data, strategy: strategy}), data
	}
	prefix := svc.Name // pod names: distinct per strategy, as their logs and data are kept
	if strategy != "" {
		prefix += "-" + strategy
	}
	var old, cur, dirs []string
	dirOf := map[string]string{}
	for i := range replicas {
		p, dir := newPod(fmt.Sprintf("%s-a%d", prefix, i))
		createPod(ctx, t, r, p)
		old, dirs = append(old, p.Name), append(dirs, dir)
		dirOf[p.Name] = dir
	}
	logs := map[string]string{}
	for _, name := range old {
		waitReady(ctx, t, r, name)
		logs[name] = keepLog(t, r, name, container)
	}
	waitRotation(t, bal, len(old))

	// Load, throughout: each client at its own rate.
	clients := newClients(t, container, bal.Addr())
	loadCtx, stopLoad := context.WithCancel(ctx)
	results := make([]chan *load.Result, len(clients))
	for i, c := range clients {
		results[i] = make(chan *load.Result, 1)
		go func() { results[i] <- load.Run(loadCtx, float64(c.rate), c.rate*180, loadTimeout, c.send) }()
	}
	time.Sleep(2 * time.Second) // steady load before the first change

	// A Deployment with maxSurge 1, maxUnavailable 0: a new pod, Ready,
	// then one old pod deleted.
	var terms []*termination
	for i := range replicas {
		p, dir := newPod(fmt.Sprintf("%s-b%d", prefix, i))
		createPod(ctx, t, r, p)
		dirs = append(dirs, dir)
		cur = append(cur, p.Name)
		waitReady(ctx, t, r, p.Name)
		logs[p.Name] = keepLog(t, r, p.Name, container)
		terms = append(terms, &termination{pod: old[i], deleted: deletePod(ctx, t, r, old[i])})
	}
	grace := time.Duration(*m.deployment.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	pods.waitGone(t, grace+30*time.Second, old...)
	time.Sleep(2 * time.Second)
	stopLoad()
	res := &load.Result{Failures: map[string]int{}}
	for i, c := range clients {
		r := <-results[i]
		c.close()
		t.Logf("load %s: %v", c.name, r)
		res.Sent, res.OK = res.Sent+r.Sent, res.OK+r.OK
		for k, v := range r.Failures {
			res.Failures[k] += v
		}
		res.First = append(res.First, r.First...)
	}

	// The new pods end too, so that their journals are flushed and counted.
	for _, name := range cur {
		deletePod(ctx, t, r, name)
	}
	pods.waitGone(t, grace+30*time.Second, cur...)

	stats := bal.Stats()
	for _, tm := range terms {
		s := stats[tm.pod]
		tm.sliceUnready, tm.removed, tm.lastConn, tm.lastForward = s.SliceUnready, s.Removed, s.LastConn, s.LastForward
		tm.lastServed = lastJournalLine(t, dirOf[tm.pod])
		tm.preStop, _ = logLine(logs[tm.pod], "shutdown: triggered", "trigger=prestop")
		tm.exited, _ = logLine(logs[tm.pod], "msg=exit")
		tm.sigterm, _ = kubeletLine(r, tm.deleted, tm.pod, "Killing container with a grace period")
		end := pods.end(tm.pod)
		tm.exitCode, tm.reason = end.ExitCode, end.Reason
	}
	report(t, container+" "+cmp.Or(strategy, "lameduck"), terms)

	rows, lines := 0, 0
	for _, d := range dirs {
		n, l := countWrites(t, d)
		rows, lines = rows+n, lines+l
	}
	t.Logf("load: %v; balancer refused %d; rows %d, journal lines %d", res, bal.Refused(), rows, lines)
	for _, f := range res.First {
		t.Logf("failure: %s", f)
	}
	require.Greater(t, res.Sent, loadRate*10, "too little load to prove anything")
	for _, tm := range terms {
		require.False(t, tm.lastForward.IsZero(), "%s: never got traffic", tm.pod)
	}
	out := &rolloutResult{load: res, refused: bal.Refused(), rows: rows, lines: lines, terms: terms, newExits: map[string]int32{}}
	for _, name := range cur {
		out.newExits[name] = pods.end(name).ExitCode
	}
	return out
}

// report logs the timeline of each termination, in seconds after its
// delete, and the figure the propagation delay must cover.
func report(t *testing.T, proto string, terms []*termination) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s terminations, seconds after the DELETE (EndpointSlice watch and balancer sync delay %v):\n", proto, balancer.DefaultSyncDelay)
	fmt.Fprintf(&b, "  unready: the EndpointSlice shows the pod not ready; rotation: the balancer stops sending it new connections;\n")
	fmt.Fprintf(&b, "  lastconn: its last new connection; lastbyte: last client bytes to it; served: its last journal line\n")
	fmt.Fprintf(&b, "%-20s %8s %8s %8s %8s %8s %8s %8s %8s %5s\n", "pod", "unready", "rotation", "lastconn", "lastbyte", "served", "preStop", "SIGTERM", "exit", "code")
	var lastConn, lastServed time.Duration
	for _, tm := range terms {
		fmt.Fprintf(&b, "%-20s %8s %8s %8s %8s %8s %8s %8s %8s %5d\n", tm.pod,
			since(tm.deleted, tm.sliceUnready), since(tm.deleted, tm.removed), since(tm.deleted, tm.lastConn),
			since(tm.deleted, tm.lastForward), since(tm.deleted, tm.lastServed), since(tm.deleted, tm.preStop),
			since(tm.deleted, tm.sigterm), since(tm.deleted, tm.exited), tm.exitCode)
		lastConn = max(lastConn, tm.lastConn.Sub(tm.deleted))
		lastServed = max(lastServed, tm.lastServed.Sub(tm.deleted))
	}
	conn := "none after the DELETE"
	if lastConn > 0 {
		conn = fmt.Sprintf("%.3f s", lastConn.Seconds())
	}
	fmt.Fprintf(&b, "longest DELETE -> last new connection routed to the old pod: %s; -> last request it served: %.3f s", conn, lastServed.Seconds())
	t.Log(b.String())
}

func waitRotation(t *testing.T, bal *balancer.Balancer, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(bal.Rotation()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("balancer rotation %v, want %d pods", bal.Rotation(), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loadClient is one open-loop client of the rollout's load.
type loadClient struct {
	name  string
	rate  int
	send  func(context.Context) error
	close func()
}

// newClients returns the load of a rollout. HTTP: keep-alive clients, which
// stay on a pod until it answers "Connection: close", and clients that
// open a connection per request, which show how long the balancer keeps
// sending new connections to a deleted pod. gRPC: six connections, each
// pinned to a pod until it sends GOAWAY.
func newClients(t *testing.T, proto, addr string) []loadClient {
	t.Helper()
	if proto == "grpc" {
		g, err := load.NewGRPC(addr, workTime, 6, nil)
		require.NoError(t, err)
		return []loadClient{{"grpc (6 connections)", loadRate, g.Send, func() { _ = g.Close() }}}
	}
	ka := load.NewHTTP(addr, workTime, 16, nil)
	nka := load.NewHTTP(addr, workTime, 0, nil)
	return []loadClient{
		{"http keep-alive", loadRate, ka.Send, ka.Close},
		{"http connection per request", loadRate / 2, nka.Send, nka.Close},
	}
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

// lastJournalLine returns the time of the last whole line of a service's
// journal ("ID\tTIME\tVIA"), or the zero time for an empty journal. A
// process killed while its buffer was being written leaves a torn last
// line, which is not a recorded request.
func lastJournalLine(t *testing.T, dir string) time.Time {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "journal.log"))
	require.NoError(t, err)
	whole := string(data[:strings.LastIndexByte(string(data), '\n')+1])
	lines := strings.Split(strings.TrimSpace(whole), "\n")
	f := strings.Split(lines[len(lines)-1], "\t")
	if len(f) < 2 {
		return time.Time{}
	}
	at, err := time.Parse(time.RFC3339Nano, f[1])
	require.NoError(t, err, "journal line %q", lines[len(lines)-1])
	return at
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
