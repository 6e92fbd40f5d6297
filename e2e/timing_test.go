package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/lameduck/lameduck/e2e/internal/binaries"
	"github.com/lameduck/lameduck/e2e/internal/netlab"
	"github.com/lameduck/lameduck/e2e/internal/rig"
	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

// recorder receives the reports of internal/cmd/timing: one connection per
// process, one line per event, stamped on arrival; the connection's end
// stamps the process's death.
type recorder struct {
	ln   net.Listener
	mu   sync.Mutex
	runs map[string]*timingRun
	wg   sync.WaitGroup
}

type timingRun struct {
	mu      sync.Mutex
	events  []stamp
	started chan struct{}
	dead    chan struct{}
	deadAt  time.Time
}

type stamp struct {
	at   time.Time
	what string
}

func newRecorder(t *testing.T) *recorder {
	// On the lab's address: the pods of the timing cases run in a node's
	// network namespace, and reach the lab through the node's route.
	ln, err := net.Listen("tcp", netip.AddrPortFrom(netlab.Gateway, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{ln: ln, runs: map[string]*timingRun{}}
	rec.wg.Go(rec.accept)
	t.Cleanup(func() {
		ln.Close()
		rec.wg.Wait()
	})
	return rec
}

func (rec *recorder) addr() string { return rec.ln.Addr().String() }

// run returns the run of the process named name, made on first use.
func (rec *recorder) run(name string) *timingRun {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	r := rec.runs[name]
	if r == nil {
		r = &timingRun{started: make(chan struct{}), dead: make(chan struct{})}
		rec.runs[name] = r
	}
	return r
}

func (rec *recorder) accept() {
	for {
		c, err := rec.ln.Accept()
		if err != nil {
			return
		}
		rec.wg.Go(func() { rec.read(c) })
	}
}

func (rec *recorder) read(c net.Conn) {
	defer c.Close()
	sc := bufio.NewScanner(c)
	if !sc.Scan() {
		return
	}
	f := strings.Fields(sc.Text())
	if len(f) < 2 || f[0] != "start" {
		return
	}
	r := rec.run(f[1])
	close(r.started)
	for sc.Scan() {
		r.mu.Lock()
		r.events = append(r.events, stamp{time.Now(), sc.Text()})
		r.mu.Unlock()
	}
	r.mu.Lock()
	r.deadAt = time.Now()
	r.mu.Unlock()
	close(r.dead)
}

// first returns when the first event starting with prefix arrived.
func (r *timingRun) first(prefix string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if strings.HasPrefix(e.what, prefix) {
			return e.at
		}
	}
	return time.Time{}
}

func (r *timingRun) wait(t *testing.T, ch <-chan struct{}, what string, timeout time.Duration) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(timeout):
		t.Fatalf("timing process: no %s within %v", what, timeout)
	}
}

// timingCase is one way to end the timing process.
type timingCase struct {
	name      string
	grace     int64         // terminationGracePeriodSeconds
	hook      time.Duration // how long /prestop takes
	hookPath  string        // defaults to /prestop
	exitDelay time.Duration // from SIGTERM to exit 0
	ignore    bool          // ignore SIGTERM
	noHandler bool          // do not handle SIGTERM at all
	// exitInHook is "answered" for a process that answers the hook and
	// exits at once, "unanswered" for one that exits in the hook without
	// answering (see internal/cmd/timing).
	exitInHook string
}

func (c timingCase) env(name string, port int, report string) map[string]string {
	env := map[string]string{
		"NAME": name, "PORT": strconv.Itoa(port), "REPORT": report,
		"HOOK_SLEEP": c.hook.String(), "EXIT_DELAY": c.exitDelay.String(),
	}
	if c.ignore {
		env["IGNORE_SIGTERM"] = "1"
	}
	if c.noHandler {
		env["NO_HANDLER"] = "1"
	}
	if c.exitInHook != "" {
		env["EXIT_IN_HOOK"] = c.exitInHook
	}
	return env
}

func (c timingCase) path() string {
	if c.hookPath == "" {
		return "/prestop"
	}
	return c.hookPath
}

// timingPod is the pod spec of a timing case: hostNetwork, the readiness
// probe and the preStop hook on 127.0.0.1.
func timingPod(r *rig.Rig, c timingCase, name string, port int, report string) *corev1.Pod {
	var env []corev1.EnvVar
	for k, v := range c.env(name, port, report) {
		env = append(env, corev1.EnvVar{Name: k, Value: v})
	}
	get := func(path string) *corev1.HTTPGetAction {
		return &corev1.HTTPGetAction{Host: "127.0.0.1", Port: intstr.FromInt(port), Path: path}
	}
	grace := c.grace
	return &corev1.Pod{
		ObjectMeta: meta(name, map[string]string{"e2e": "timing"}),
		Spec: corev1.PodSpec{
			HostNetwork:                   true,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "timing", Image: binaries.TimingImage, ImagePullPolicy: corev1.PullNever, Env: env,
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: get("/readyz")}, PeriodSeconds: 1},
				Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: get(c.path())}},
			}},
		},
	}
}

// timings is what one termination looked like, in seconds after ref: the
// kubelet's first "Killing container" log line for the real kubelet (so
// the API's latency is not counted), the call to Terminate for the
// simulator. The process's own stamps (hook start, SIGTERM, death) arrive
// at the recorder; the caller's stamps (hook end, stop call, exit seen)
// are the kubelet's log lines (-v=3) or the simulator's Report.
type timings struct {
	hookStart float64 // the hook's request arrives
	sigterm   float64 // SIGTERM arrives (-1: none came)
	death     float64 // the process is gone (exit or SIGKILL)
	exitCode  int     // as in the container status (128 + signal when killed)
	apiDelay  float64 // DELETE to the kubelet's first log line (real kubelet only)

	hookEnd     float64 // the caller stops waiting for the hook
	hookOutcome string  // "answered", "failed" (transport error) or "abandoned"
	stopCall    float64 // the caller decides to stop the container: StopContainer, or the simulator's signal (-1: it sent none)
	stopGrace   float64 // the grace period the stop call got, in seconds
	exitSeen    float64 // the caller sees the process gone: the kubelet's "Container exited normally", the simulator's ExitAfter
	terminated  float64 // the API shows the container terminated (real kubelet only)
}

func (tm timings) String() string {
	return fmt.Sprintf("hook %+.3f, SIGTERM %+.3f (hook %+.3f), death %+.3f (SIGTERM %+.3f), exit %d; caller: hook %s at %+.3f, stop call %+.3f (grace %g s), exit seen %+.3f",
		tm.hookStart, tm.sigterm, tm.sigterm-tm.hookStart, tm.death, tm.death-tm.sigterm, tm.exitCode,
		tm.hookOutcome, tm.hookEnd, tm.stopCall, tm.stopGrace, tm.exitSeen)
}

// kubeletStamps reads the kubelet's own stamps of pod's termination from
// its log at path into tm, in seconds after ref: the end of the preStop
// hook ("PreStop hook completed", "PreStop hook failed" or "PreStop hook
// not completed in grace period"), the call to StopContainer with its
// grace period ("Killing container with a grace period") and its return
// ("Container exited normally"), all in killContainer and
// executePreStopHook (pkg/kubelet/kuberuntime/kuberuntime_container.go).
func kubeletStamps(path string, since, ref time.Time, pod string, tm *timings) error {
	// The goroutine that runs the hook logs "PreStop hook failed" before
	// it returns, and the wait then logs "PreStop hook completed" as well:
	// a failure outranks a completion, and an abandon both.
	tm.hookOutcome = ""
	for _, o := range []struct{ msg, outcome string }{
		{"PreStop hook not completed in grace period", "abandoned"},
		{"PreStop hook failed", "failed"},
		{"PreStop hook completed", "answered"},
	} {
		if at, _, err := kubeletLineIn(path, since, pod, o.msg); err == nil {
			tm.hookEnd, tm.hookOutcome = secondsAfter(ref, at), o.outcome
			break
		}
	}
	if tm.hookOutcome == "" {
		return errors.New("no end of the preStop hook in the kubelet's log")
	}
	at, line, err := kubeletLineIn(path, since, pod, "Killing container with a grace period")
	if err != nil {
		return fmt.Errorf("no StopContainer call in the kubelet's log: %w", err)
	}
	tm.stopCall = secondsAfter(ref, at)
	if m := gracePeriodField.FindStringSubmatch(line); m != nil {
		tm.stopGrace, _ = strconv.ParseFloat(m[1], 64)
	}
	at, _, err = kubeletLineIn(path, since, pod, "Container exited normally")
	if err != nil {
		return fmt.Errorf("no return of StopContainer in the kubelet's log: %w", err)
	}
	tm.exitSeen = secondsAfter(ref, at)
	return nil
}

var gracePeriodField = regexp.MustCompile(`gracePeriod=(\d+)`)

// simulatorStamps fills tm's caller stamps from the simulator's report.
func simulatorStamps(rep *shutdowntest.Report, tm *timings) {
	tm.hookEnd, tm.hookOutcome = rep.PreStopDuration.Seconds(), "answered"
	switch {
	case rep.PreStopAbandoned:
		tm.hookOutcome = "abandoned"
	case rep.PreStopErr != nil:
		tm.hookOutcome = "failed"
	}
	tm.stopCall = -1
	if rep.SignalAfter > 0 {
		tm.stopCall = rep.SignalAfter.Seconds()
	}
	tm.exitSeen = rep.ExitAfter.Seconds()
	tm.exitCode = rep.ContainerExitCode
}

func secondsAfter(ref, at time.Time) float64 {
	if at.IsZero() {
		return -1
	}
	return at.Sub(ref).Seconds()
}

// underKubelet runs case c as a pod under the real kubelet, deletes it
// through the API and returns its timings.
func underKubelet(ctx context.Context, t *testing.T, r *rig.Rig, rec *recorder, c timingCase) timings {
	name := "timing-" + c.name
	port := freePorts(t, 1)[0]
	watch, stop := context.WithCancel(ctx)
	defer stop()
	pods := watchPods(watch, t, r, "e2e=timing")
	createPod(ctx, t, r, timingPod(r, c, name, port, rec.addr()))
	run := rec.run(name)
	run.wait(t, run.started, "start", 90*time.Second)
	waitReady(ctx, t, r, name)
	deleted := deletePod(ctx, t, r, name)
	run.wait(t, run.dead, "death", time.Duration(c.grace)*time.Second+c.hook+30*time.Second)
	pods.waitGone(t, 60*time.Second, name)
	stop()
	<-pods.done
	ref, err := kubeletLine(r, deleted, name, "Killing container with a grace period override")
	if err != nil {
		t.Fatalf("kubelet log: no kill of %s: %v", name, err)
	}
	tm := timings{
		hookStart:  secondsAfter(ref, run.first("hook-start")),
		sigterm:    secondsAfter(ref, run.first("sigterm")),
		death:      secondsAfter(ref, run.deadAt),
		exitCode:   int(pods.end(name).ExitCode),
		apiDelay:   ref.Sub(deleted).Seconds(),
		terminated: secondsAfter(ref, pods.end(name).Terminated),
	}
	if err := kubeletStamps(r.KubeletLog, deleted, ref, name, &tm); err != nil {
		t.Fatalf("kubelet log of %s: %v", name, err)
	}
	return tm
}
