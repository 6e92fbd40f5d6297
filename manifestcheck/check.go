package manifestcheck

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// A Finding is one problem, or one note, about a container.
type Finding struct {
	File      string // as given to [Check]; empty from [CheckWorkload]
	Workload  string // Kind/namespace/name, as [Workload.String]
	Container string
	// Note marks what the check could not verify, such as a value from a
	// Secret; a note is not a failure.
	Note    bool
	Problem string // what is wrong, or what could not be checked
	Fix     string // what to change; empty for a note
}

// String formats the finding as one line:
//
//	file: Kind/namespace/name: container "c": problem; fix: what to change
//	file: Kind/namespace/name: container "c": note: what could not be checked
func (f Finding) String() string {
	prefix := fmt.Sprintf("%s: container %q: ", f.Workload, f.Container)
	if f.File != "" {
		prefix = f.File + ": " + prefix
	}
	if f.Note {
		return prefix + "note: " + f.Problem
	}
	return prefix + f.Problem + "; fix: " + f.Fix
}

// configured reports whether c is configured for lameduck: its env sets a
// SHUTDOWN_* variable; or its preStop hook is an httpGet on /prestop or on
// a path near it (a typo such as /prestopp, /pre-stop or /PreStop, which
// the checks then report); or one of its probes is an httpGet on an
// endpoint of the readiness package (/readyz, /servingz, /livez,
// /startupz) on its port named "admin".
func configured(c corev1.Container) bool {
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "SHUTDOWN_") {
			return true
		}
	}
	l := c.Lifecycle
	if l != nil && l.PreStop != nil && l.PreStop.HTTPGet != nil && nearPrestop(l.PreStop.HTTPGet.Path) {
		return true
	}
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
		if p != nil && p.HTTPGet != nil && slices.Contains(readinessPaths, p.HTTPGet.Path) && isAdminPort(c.Ports, p.HTTPGet.Port) {
			return true
		}
	}
	return false
}

// readinessPaths are the endpoints the readiness package serves.
var readinessPaths = []string{readyzPath, servingzPath, "/livez", "/startupz"}

// adminPort is the name of the port the examples serve the probes and
// /prestop on.
const adminPort = "admin"

// isAdminPort reports whether p, a number or a name, is the container's
// port named adminPort.
func isAdminPort(ports []corev1.ContainerPort, p intstr.IntOrString) bool {
	for _, cp := range ports {
		if cp.Name == adminPort && ((p.Type == intstr.Int && cp.ContainerPort == p.IntVal) || (p.Type == intstr.String && p.StrVal == adminPort)) {
			return true
		}
	}
	return false
}

// nearPrestop reports whether path is /prestop or looks like a mistyped
// /prestop: the same but for case, separators or a trailing slash, or at
// most two edits away.
func nearPrestop(path string) bool {
	p := strings.ToLower(path)
	p = strings.NewReplacer("-", "", "_", "").Replace(p)
	p = strings.TrimSuffix(p, "/")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return editDistance(p, prestopPath) <= 2
}

// editDistance returns the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// containers returns the pod's containers that get a preStop hook and a
// SIGTERM at termination: the regular ones and the sidecars (init
// containers with restartPolicy Always).
func containers(spec corev1.PodSpec) []corev1.Container {
	cs := append([]corev1.Container(nil), spec.Containers...)
	for _, c := range spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			cs = append(cs, c)
		}
	}
	return cs
}

// CheckWorkload checks every container of w that is configured for
// lameduck (see the package doc) against the rules in the package doc and returns the problems
// and notes, in rule order; containers not configured for lameduck are
// ignored. It also returns how many containers it checked.
func CheckWorkload(w Workload) (findings []Finding, checked int) {
	for _, c := range containers(w.Spec) {
		if !configured(c) {
			continue
		}
		checked++
		ck := &checker{Finding: Finding{Workload: w.String(), Container: c.Name}}
		ck.container(w.Spec, c)
		findings = append(findings, ck.findings...)
	}
	return findings, checked
}

// checker collects the findings about one container.
type checker struct {
	Finding  // the template: workload and container
	findings []Finding
}

func (ck *checker) problem(fix, format string, args ...any) {
	f := ck.Finding
	f.Problem, f.Fix = fmt.Sprintf(format, args...), fix
	ck.findings = append(ck.findings, f)
}

func (ck *checker) note(format string, args ...any) {
	f := ck.Finding
	f.Note, f.Problem = true, fmt.Sprintf(format, args...)
	ck.findings = append(ck.findings, f)
}

func (ck *checker) container(spec corev1.PodSpec, c corev1.Container) {
	env := make(map[string]corev1.EnvVar)
	for _, e := range c.Env {
		env[e.Name] = e // a later entry wins, as in the kubelet's makeEnvironmentVariables (pkg/kubelet/kubelet_pods.go), which also lets env override envFrom
	}
	if len(c.EnvFrom) > 0 {
		ck.note("envFrom may set the SHUTDOWN_* variables that env leaves unset: their values cannot be checked, the defaults are assumed")
	}
	grace := ck.duration(env, envGracePeriod, defaultGracePeriod)
	delay := ck.duration(env, envPropagationDelay, defaultPropagationDelay)
	margin := ck.duration(env, envSafetyMargin, defaultSafetyMargin)
	ck.grace(spec.TerminationGracePeriodSeconds, grace)
	ck.budget(spec.TerminationGracePeriodSeconds, grace, delay, margin)
	ck.preStop(c)
	ck.readiness(c.ReadinessProbe, delay)
	ck.readinessPath(c.ReadinessProbe)
}

// setting is a duration as the container's env sets it.
type setting struct {
	d     time.Duration
	known bool   // false when it cannot be checked or is invalid
	label string // how to show it: "SHUTDOWN_X 5s" or "SHUTDOWN_X 5s (default)"
}

// duration reads the variable name from env as the shutdown package's
// FromEnv does (unset or empty means the default def), reporting values it
// would reject and noting those it cannot see.
func (ck *checker) duration(env map[string]corev1.EnvVar, name string, def time.Duration) setting {
	e, ok := env[name]
	switch {
	case ok && e.ValueFrom != nil:
		ck.note("%s is set with valueFrom (a ConfigMap, Secret or field reference): its value cannot be checked", name)
		return setting{}
	case !ok || e.Value == "":
		return setting{d: def, known: true, label: fmt.Sprintf("%s %v (default)", name, def)}
	case strings.Contains(e.Value, "$("):
		ck.note("%s=%q refers to other variables: its value cannot be checked", name, e.Value)
		return setting{}
	}
	d, err := parseDuration(e.Value)
	switch {
	case err != nil:
		ck.problem(fmt.Sprintf("set %s to a Go duration such as \"30s\" or whole seconds such as \"30\"", name),
			"%s=%q %v, so the service will not start", name, e.Value, err)
		return setting{}
	case d < 0 || (d == 0 && name == envGracePeriod):
		ck.problem(fmt.Sprintf("set %s to a positive duration", name),
			"%s=%q is not positive, so the service will not start", name, e.Value)
		return setting{}
	}
	return setting{d: d, known: true, label: fmt.Sprintf("%s %v", name, d)}
}

// kubeletGrace returns terminationGracePeriodSeconds as a duration and how
// to show it; ok is false when it does not fit in one.
func kubeletGrace(seconds *int64) (d time.Duration, label string, ok bool) {
	if seconds == nil {
		return defaultGracePeriod, "terminationGracePeriodSeconds 30 (default)", true
	}
	label = fmt.Sprintf("terminationGracePeriodSeconds %d", *seconds)
	if *seconds > maxWholeSeconds || *seconds < -maxWholeSeconds {
		return 0, label, false
	}
	return time.Duration(*seconds) * time.Second, label, true
}

// grace checks that the service plans with the grace period the kubelet
// enforces: the downward API does not expose it.
func (ck *checker) grace(seconds *int64, grace setting) {
	kubelet, label, ok := kubeletGrace(seconds)
	if !grace.known || (ok && kubelet == grace.d) {
		return
	}
	ck.problem("set terminationGracePeriodSeconds and "+envGracePeriod+" to the same number of seconds: the kubelet kills at the first, the service plans its drain with the second",
		"%s differs from %s", grace.label, label)
}

// budget checks that the delay and the margin leave time to drain, with
// the shutdown package's own rule (delay + margin < grace). It uses the
// service's grace period, or the kubelet's when the service's is unknown.
func (ck *checker) budget(seconds *int64, grace, delay, margin setting) {
	consequence := "so the service will not start"
	if !grace.known {
		kubelet, label, ok := kubeletGrace(seconds)
		grace = setting{d: kubelet, known: ok, label: label}
		consequence = "so nothing is left to drain in before the kubelet's SIGKILL"
	}
	if !grace.known || !delay.known || !margin.known {
		return
	}
	if margin.d >= grace.d || delay.d >= grace.d-margin.d {
		ck.problem("shorten the delay or the margin, or raise terminationGracePeriodSeconds and "+envGracePeriod+" together",
			"%s + %s does not fit in the grace period %v, %s", delay.label, margin.label, grace.d, consequence)
	}
}

// preStop checks that a preStop hook, if any, starts the shutdown sequence.
// A container without one is fine: SIGTERM starts the sequence too.
func (ck *checker) preStop(c corev1.Container) {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return
	}
	const fix = "use lifecycle.preStop.httpGet with path " + prestopPath + " on the admin port, or no preStop hook"
	h := c.Lifecycle.PreStop.HTTPGet
	if h == nil {
		ck.problem(fix, "preStop hook is %s, not an httpGet on %s: its time is taken from the grace period before the sequence starts",
			action(c.Lifecycle.PreStop), prestopPath)
		return
	}
	if h.Path != prestopPath {
		ck.problem(fix, "preStop httpGet path %q is not %s, so the hook does not start the shutdown sequence", h.Path, prestopPath)
	}
	if h.Host != "" {
		ck.problem("remove host: the kubelet then calls the pod's own IP",
			"preStop httpGet host %q is set, so the kubelet calls that host instead of this pod", h.Host)
	}
	if !hasPort(c.Ports, h.Port) {
		ck.problem("point the hook at a port declared under ports (the admin port serving "+prestopPath+"), or declare it",
			"preStop httpGet port %s names no port of this container", h.Port.String())
	}
}

// action names the kind of a lifecycle handler that is not an httpGet.
func action(h *corev1.LifecycleHandler) string {
	switch {
	case h.Exec != nil:
		return "an exec"
	case h.Sleep != nil:
		return "a sleep"
	case h.TCPSocket != nil:
		return "a tcpSocket"
	}
	return "empty"
}

// hasPort reports whether p, a number or a name, is one of ports. The
// kubelet would call an undeclared number all the same
// (pkg/kubelet/lifecycle/handlers.go, resolvePort), but then nothing ties
// the hook to the port the service listens on.
func hasPort(ports []corev1.ContainerPort, p intstr.IntOrString) bool {
	for _, cp := range ports {
		if (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) || (p.Type == intstr.String && cp.Name == p.StrVal) {
			return true
		}
	}
	return false
}

// readiness checks that the readiness probe takes the pod out of rotation
// within the propagation delay: load balancers that health-check instead
// of watching endpoints notice no sooner than the probe does.
func (ck *checker) readiness(p *corev1.Probe, delay setting) {
	if p == nil {
		ck.problem("add a readinessProbe: an httpGet on "+servingzPath+" on the admin port, or the gRPC health service",
			"no readinessProbe, so the pod is not seen leaving before the drain")
		return
	}
	if !delay.known {
		return
	}
	period, pDef := orDefault(p.PeriodSeconds, defaultProbePeriodSeconds)
	threshold, tDef := orDefault(p.FailureThreshold, defaultProbeFailureThreshold)
	// Both are int32, so their product fits in an int64, but not always
	// once in nanoseconds: compare in whole seconds where it does not.
	secs := int64(period) * int64(threshold)
	noticed := fmt.Sprintf("%ds", secs)
	exceeds := secs > maxWholeSeconds
	if !exceeds {
		d := time.Duration(secs) * time.Second
		noticed, exceeds = d.String(), d > delay.d
	}
	if exceeds {
		ck.problem("lower periodSeconds or failureThreshold so that their product fits in the delay, or lengthen "+envPropagationDelay,
			"readinessProbe periodSeconds %d%s × failureThreshold %d%s = %s exceeds %s", period, pDef, threshold, tDef, noticed, delay.label)
	}
}

// readinessPath checks that the kubelet's readinessProbe, if an httpGet,
// is on /servingz rather than /readyz.
func (ck *checker) readinessPath(p *corev1.Probe) {
	if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != readyzPath {
		return
	}
	ck.problem("point the readinessProbe at "+servingzPath+" on the admin port; keep "+readyzPath+" for load balancers that probe pods themselves",
		"readinessProbe httpGet path %s fails at the trigger, so a deleted pod stops being a serving endpoint during the delay, "+
			"and kube-proxy cannot fall back to it while it still serves when the Service has no ready endpoint "+
			"(a single replica, a scale to zero, a node drained under externalTrafficPolicy: Local); "+
			"%s keeps passing until the drains start", readyzPath, servingzPath)
}

// orDefault returns v, or the API server's default def when v is unset,
// with a label saying which.
func orDefault(v, def int32) (int32, string) {
	if v == 0 {
		return def, " (default)"
	}
	return v, ""
}
