package manifestcheck_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/lameduck/lameduck/manifestcheck"
)

// examples is where the example services' manifests live in the repository.
const examples = "../examples/kubernetes"

func TestExamplesPass(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examples, "*.yaml"))
	require.NoError(t, err)
	require.Len(t, files, 2, "http.yaml and grpc.yaml")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			r, err := manifestcheck.Check(file, data)
			require.NoError(t, err)
			want := manifestcheck.Report{Workloads: 1, Skipped: 1, Containers: 1}
			if usesReadyz(t, data) {
				// Until the examples probe /servingz, the one finding is
				// that their readinessProbe is on /readyz.
				require.Len(t, r.Findings, 1, "%v", r.Findings)
				assert.Contains(t, r.Findings[0].Problem, "readinessProbe httpGet path /readyz fails at the trigger")
				want.Findings = r.Findings
			}
			assert.Equal(t, want, r, "a Deployment checked, a Service skipped")
		})
	}
}

// example returns the Deployment of an example manifest, to break, with
// its readinessProbe on /servingz, as the checks want it.
func example(t *testing.T, file string) manifestcheck.Workload {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(examples, file))
	require.NoError(t, err)
	ws, _, err := manifestcheck.Parse(data)
	require.NoError(t, err)
	require.Len(t, ws, 1)
	require.Len(t, ws[0].Spec.Containers, 1)
	if p := ws[0].Spec.Containers[0].ReadinessProbe; p != nil && p.HTTPGet != nil && p.HTTPGet.Path == "/readyz" {
		p.HTTPGet.Path = "/servingz"
	}
	return ws[0]
}

// usesReadyz reports whether the one container of the manifest's
// Deployment has its readinessProbe on /readyz.
func usesReadyz(t *testing.T, data []byte) bool {
	t.Helper()
	ws, _, err := manifestcheck.Parse(data)
	require.NoError(t, err)
	require.Len(t, ws, 1)
	p := ws[0].Spec.Containers[0].ReadinessProbe
	return p != nil && p.HTTPGet != nil && p.HTTPGet.Path == "/readyz"
}

// setEnv sets a variable to a literal value, adding it if absent.
func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i] = corev1.EnvVar{Name: name, Value: value}
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

func unsetEnv(c *corev1.Container, name string) {
	var env []corev1.EnvVar
	for _, e := range c.Env {
		if e.Name != name {
			env = append(env, e)
		}
	}
	c.Env = env
}

func seconds(n int64) *int64 { return &n }

// TestBrokenExamples breaks the examples one rule at a time. want lists a
// substring of each problem expected, in order; notes lists the notes.
func TestBrokenExamples(t *testing.T) {
	tests := []struct {
		name  string
		file  string // default http.yaml
		edit  func(s *corev1.PodSpec, c *corev1.Container)
		want  []string
		notes []string
	}{
		// SHUTDOWN_GRACE_PERIOD = terminationGracePeriodSeconds.
		{name: "grace differs", edit: func(s *corev1.PodSpec, _ *corev1.Container) { s.TerminationGracePeriodSeconds = seconds(45) },
			want: []string{"SHUTDOWN_GRACE_PERIOD 30s differs from terminationGracePeriodSeconds 45"}},
		{name: "grace differs from the kubelet default", edit: func(s *corev1.PodSpec, c *corev1.Container) {
			s.TerminationGracePeriodSeconds = nil
			setEnv(c, "SHUTDOWN_GRACE_PERIOD", "45")
		}, want: []string{"SHUTDOWN_GRACE_PERIOD 45s differs from terminationGracePeriodSeconds 30 (default)"}},
		{name: "grace differs from the service default", file: "grpc.yaml", edit: func(s *corev1.PodSpec, c *corev1.Container) {
			s.TerminationGracePeriodSeconds = seconds(60)
			unsetEnv(c, "SHUTDOWN_GRACE_PERIOD")
		}, want: []string{"SHUTDOWN_GRACE_PERIOD 30s (default) differs from terminationGracePeriodSeconds 60"}},
		{name: "grace a fraction off", edit: func(_ *corev1.PodSpec, c *corev1.Container) { setEnv(c, "SHUTDOWN_GRACE_PERIOD", "30.5s") },
			want: []string{"SHUTDOWN_GRACE_PERIOD 30.5s differs from terminationGracePeriodSeconds 30"}},
		{name: "both defaults agree", edit: func(s *corev1.PodSpec, c *corev1.Container) {
			s.TerminationGracePeriodSeconds = nil
			unsetEnv(c, "SHUTDOWN_GRACE_PERIOD")
		}},
		{name: "empty grace is the default", edit: func(_ *corev1.PodSpec, c *corev1.Container) { setEnv(c, "SHUTDOWN_GRACE_PERIOD", "") }},

		// Delay + margin < grace, and values the service accepts.
		{name: "delay too long", edit: func(_ *corev1.PodSpec, c *corev1.Container) { setEnv(c, "SHUTDOWN_PROPAGATION_DELAY", "28s") },
			want: []string{"SHUTDOWN_PROPAGATION_DELAY 28s + SHUTDOWN_SAFETY_MARGIN 2s (default) does not fit in the grace period 30s, so the service will not start"}},
		{name: "delay just fits", edit: func(_ *corev1.PodSpec, c *corev1.Container) {
			setEnv(c, "SHUTDOWN_PROPAGATION_DELAY", "27.9s")
			c.ReadinessProbe.PeriodSeconds = 27 // keep the probe rule out of it
		}},
		{name: "margin too long", file: "grpc.yaml", edit: func(_ *corev1.PodSpec, c *corev1.Container) { setEnv(c, "SHUTDOWN_SAFETY_MARGIN", "25s") },
			want: []string{"SHUTDOWN_PROPAGATION_DELAY 5s + SHUTDOWN_SAFETY_MARGIN 25s does not fit in the grace period 30s"}},
		{name: "delay does not parse", edit: func(_ *corev1.PodSpec, c *corev1.Container) { setEnv(c, "SHUTDOWN_PROPAGATION_DELAY", "5 seconds") },
			want: []string{`SHUTDOWN_PROPAGATION_DELAY="5 seconds" is not a duration`}},
		{name: "margin overflows", edit: func(_ *corev1.PodSpec, c *corev1.Container) { setEnv(c, "SHUTDOWN_SAFETY_MARGIN", "9223372037") },
			want: []string{`SHUTDOWN_SAFETY_MARGIN="9223372037" is out of range`}},
		{name: "grace overflows as a Go duration", edit: func(_ *corev1.PodSpec, c *corev1.Container) { setEnv(c, "SHUTDOWN_GRACE_PERIOD", "2562048h") },
			want: []string{`SHUTDOWN_GRACE_PERIOD="2562048h" is not a duration`}},
		{name: "grace zero", edit: func(_ *corev1.PodSpec, c *corev1.Container) { setEnv(c, "SHUTDOWN_GRACE_PERIOD", "0") },
			want: []string{`SHUTDOWN_GRACE_PERIOD="0" is not positive`}},
		{name: "delay negative", edit: func(_ *corev1.PodSpec, c *corev1.Container) { setEnv(c, "SHUTDOWN_PROPAGATION_DELAY", "-1s") },
			want: []string{`SHUTDOWN_PROPAGATION_DELAY="-1s" is not positive`}},
		{name: "kubelet grace too short when the service's is unknown", edit: func(s *corev1.PodSpec, c *corev1.Container) {
			s.TerminationGracePeriodSeconds = seconds(6)
			c.Env = append(c.Env, corev1.EnvVar{Name: "SHUTDOWN_GRACE_PERIOD", ValueFrom: &corev1.EnvVarSource{
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "grace"}}})
		}, want: []string{"SHUTDOWN_PROPAGATION_DELAY 5s + SHUTDOWN_SAFETY_MARGIN 2s (default) does not fit in the grace period 6s, so nothing is left to drain in before the kubelet's SIGKILL"},
			notes: []string{"SHUTDOWN_GRACE_PERIOD is set with valueFrom"}},

		// preStop is an httpGet on /prestop on a declared port.
		{name: "preStop exec sleep", edit: func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Lifecycle.PreStop = &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "5"}}}
			setEnv(c, "SHUTDOWN_PROPAGATION_DELAY", "5s") // still configured through env
		}, want: []string{"preStop hook is an exec, not an httpGet on /prestop"}},
		{name: "preStop sleep action", file: "grpc.yaml", edit: func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Lifecycle.PreStop = &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}
		}, want: []string{"preStop hook is a sleep"}},
		{name: "no preStop is fine", edit: func(_ *corev1.PodSpec, c *corev1.Container) { c.Lifecycle = nil }},
		{name: "preStop path", edit: func(_ *corev1.PodSpec, c *corev1.Container) { c.Lifecycle.PreStop.HTTPGet.Path = "/quitquitquit" },
			want: []string{`preStop httpGet path "/quitquitquit" is not /prestop`}},
		{name: "preStop port name", edit: func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Lifecycle.PreStop.HTTPGet.Port = intstr.FromString("admn")
		}, want: []string{"preStop httpGet port admn names no port of this container"}},
		{name: "preStop port number undeclared", file: "grpc.yaml", edit: func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Lifecycle.PreStop.HTTPGet.Port = intstr.FromInt32(9091)
		}, want: []string{"preStop httpGet port 9091 names no port of this container"}},
		{name: "preStop port number declared", edit: func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Lifecycle.PreStop.HTTPGet.Port = intstr.FromInt32(9090)
		}},
		{name: "preStop port of another container", edit: func(s *corev1.PodSpec, c *corev1.Container) {
			s.Containers = append(s.Containers, corev1.Container{Name: "proxy", Ports: []corev1.ContainerPort{{Name: "envoy-admin", ContainerPort: 9901}}})
			c.Lifecycle.PreStop.HTTPGet.Port = intstr.FromString("envoy-admin")
		}, want: []string{"preStop httpGet port envoy-admin names no port"}},
		{name: "preStop host", edit: func(_ *corev1.PodSpec, c *corev1.Container) { c.Lifecycle.PreStop.HTTPGet.Host = "127.0.0.1" },
			want: []string{`preStop httpGet host "127.0.0.1" is set`}},

		// A readiness probe that notices within the delay.
		{name: "no readiness probe", file: "grpc.yaml", edit: func(_ *corev1.PodSpec, c *corev1.Container) { c.ReadinessProbe = nil },
			want: []string{"no readinessProbe"}},
		{name: "readiness too slow", edit: func(_ *corev1.PodSpec, c *corev1.Container) {
			c.ReadinessProbe.PeriodSeconds, c.ReadinessProbe.FailureThreshold = 3, 2
		}, want: []string{"readinessProbe periodSeconds 3 × failureThreshold 2 = 6s exceeds SHUTDOWN_PROPAGATION_DELAY 5s"}},
		{name: "readiness defaults too slow", edit: func(_ *corev1.PodSpec, c *corev1.Container) {
			c.ReadinessProbe.PeriodSeconds, c.ReadinessProbe.FailureThreshold = 0, 0
		}, want: []string{"readinessProbe periodSeconds 10 (default) × failureThreshold 3 (default) = 30s exceeds SHUTDOWN_PROPAGATION_DELAY 5s"}},
		{name: "readiness exactly the delay", edit: func(_ *corev1.PodSpec, c *corev1.Container) {
			c.ReadinessProbe.PeriodSeconds, c.ReadinessProbe.FailureThreshold = 5, 1
		}},
		{name: "readiness and the default delay", edit: func(_ *corev1.PodSpec, c *corev1.Container) {
			unsetEnv(c, "SHUTDOWN_PROPAGATION_DELAY")
			c.ReadinessProbe.PeriodSeconds = 6
		}, want: []string{"= 6s exceeds SHUTDOWN_PROPAGATION_DELAY 5s (default)"}},
		{name: "zero delay", edit: func(_ *corev1.PodSpec, c *corev1.Container) { setEnv(c, "SHUTDOWN_PROPAGATION_DELAY", "0") },
			want: []string{"= 2s exceeds SHUTDOWN_PROPAGATION_DELAY 0s"}},

		// What cannot be checked is a note.
		{name: "delay from a Secret", edit: func(_ *corev1.PodSpec, c *corev1.Container) {
			unsetEnv(c, "SHUTDOWN_PROPAGATION_DELAY")
			c.Env = append(c.Env, corev1.EnvVar{Name: "SHUTDOWN_PROPAGATION_DELAY", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{Key: "delay"}}})
			c.ReadinessProbe = &corev1.Probe{PeriodSeconds: 60} // unknown delay: not checked
		}, notes: []string{"SHUTDOWN_PROPAGATION_DELAY is set with valueFrom"}},
		{name: "grace from another variable", edit: func(_ *corev1.PodSpec, c *corev1.Container) {
			setEnv(c, "SHUTDOWN_GRACE_PERIOD", "$(GRACE)s")
		}, notes: []string{`SHUTDOWN_GRACE_PERIOD="$(GRACE)s" refers to other variables`}},
		{name: "envFrom", edit: func(_ *corev1.PodSpec, c *corev1.Container) {
			c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{}}}
		}, notes: []string{"envFrom may set the SHUTDOWN_* variables"}},
		{name: "the last entry wins", edit: func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: "SHUTDOWN_GRACE_PERIOD", Value: "31s"})
		}, want: []string{"SHUTDOWN_GRACE_PERIOD 31s differs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := tt.file
			if file == "" {
				file = "http.yaml"
			}
			w := example(t, file)
			tt.edit(&w.Spec, &w.Spec.Containers[0])
			findings, checked := manifestcheck.CheckWorkload(w)
			assert.Equal(t, 1, checked)
			var problems, notes []string
			for _, f := range findings {
				assert.Equal(t, w.String(), f.Workload)
				assert.Equal(t, w.Spec.Containers[0].Name, f.Container)
				assert.Equal(t, f.Note, f.Fix == "", "a problem has a fix, a note none: %s", f)
				if f.Note {
					notes = append(notes, f.Problem)
				} else {
					problems = append(problems, f.Problem)
				}
			}
			assertMatch(t, tt.want, problems, "problems")
			assertMatch(t, tt.notes, notes, "notes")
		})
	}
}

// assertMatch checks that got has one entry per want, each containing it.
func assertMatch(t *testing.T, want, got []string, what string) {
	t.Helper()
	if !assert.Len(t, got, len(want), "%s: %q", what, got) {
		return
	}
	for i := range want {
		assert.Contains(t, got[i], want[i], what)
	}
}

func TestOnlyLameduckContainersChecked(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	broken := func(name string) corev1.Container { // no readiness probe, an exec preStop
		return corev1.Container{Name: name, Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
			Exec: &corev1.ExecAction{Command: []string{"sleep", "5"}}}}}
	}
	byEnv, sidecar, plainInit := broken("by-env"), broken("sidecar"), broken("init")
	byEnv.Env = []corev1.EnvVar{{Name: "SHUTDOWN_PRESTOP_TOKEN", Value: "t"}}
	sidecar.Env, sidecar.RestartPolicy = byEnv.Env, &always
	plainInit.Env = byEnv.Env // runs to completion before the pod starts: no preStop, no SIGTERM
	byHook := corev1.Container{Name: "by-hook", Ports: []corev1.ContainerPort{{Name: "admin", ContainerPort: 9090}},
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/prestop", Port: intstr.FromString("admin")}}}}
	w := manifestcheck.Workload{Kind: "Pod", Name: "p", Spec: corev1.PodSpec{
		Containers:     []corev1.Container{broken("other"), byEnv, byHook},
		InitContainers: []corev1.Container{plainInit, sidecar},
	}}

	findings, checked := manifestcheck.CheckWorkload(w)
	assert.Equal(t, 3, checked)
	var got []string
	for _, f := range findings {
		got = append(got, f.Container+": "+f.Problem)
	}
	assert.Equal(t, []string{
		"by-env: preStop hook is an exec, not an httpGet on /prestop: its time is taken from the grace period before the sequence starts",
		"by-env: no readinessProbe, so the pod is not seen leaving before the drain",
		"by-hook: no readinessProbe, so the pod is not seen leaving before the drain",
		"sidecar: preStop hook is an exec, not an httpGet on /prestop: its time is taken from the grace period before the sequence starts",
		"sidecar: no readinessProbe, so the pod is not seen leaving before the drain",
	}, got)
}

func TestFindingString(t *testing.T) {
	p := manifestcheck.Finding{File: "a.yaml", Workload: "Deployment/ns/web", Container: "app", Problem: "it breaks", Fix: "mend it"}
	assert.Equal(t, `a.yaml: Deployment/ns/web: container "app": it breaks; fix: mend it`, p.String())
	n := manifestcheck.Finding{Workload: "Pod/web", Container: "app", Note: true, Problem: "unseen"}
	assert.Equal(t, `Pod/web: container "app": note: unseen`, n.String())
	assert.False(t, strings.Contains(n.String(), "fix"))
}
