package manifestcheck_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/lameduck/lameduck/manifestcheck"
)

// adminContainer is a container with an admin port and no SHUTDOWN_*
// variable, whose preStop hook and probes the cases set.
func adminContainer(prestop, readiness string) corev1.Container {
	c := corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "admin", ContainerPort: 9090}}}
	if prestop != "" {
		c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: prestop, Port: intstr.FromString("admin")}}}
	}
	if readiness != "" {
		c.ReadinessProbe = &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: readiness, Port: intstr.FromString("admin")}}}
	}
	return c
}

// TestConfiguredWithoutShutdownVariables checks that a container that sets
// no SHUTDOWN_* variable is still recognised as configured for lameduck by
// a preStop path near /prestop, or by the readiness endpoints on its admin
// port, so that the typo it carries is reported rather than passed.
func TestConfiguredWithoutShutdownVariables(t *testing.T) {
	tests := []struct {
		name       string
		c          corev1.Container
		configured bool
		want       []string // problems
	}{
		{"preStop typo", adminContainer("/prestopp", "/servingz"), true,
			[]string{`preStop httpGet path "/prestopp" is not /prestop`}},
		{"preStop typo, no probe", adminContainer("/pre-stop", ""), true,
			[]string{`preStop httpGet path "/pre-stop" is not /prestop`, "no readinessProbe"}},
		{"preStop in capitals", adminContainer("/PreStop", "/servingz"), true,
			[]string{`preStop httpGet path "/PreStop" is not /prestop`}},
		{"preStop with a trailing slash", adminContainer("/prestop/", "/servingz"), true,
			[]string{`preStop httpGet path "/prestop/" is not /prestop`}},
		{"admin port probed on /servingz, preStop elsewhere", adminContainer("/quitquitquit", "/servingz"), true,
			[]string{`preStop httpGet path "/quitquitquit" is not /prestop`}},
		{"admin port probed on /readyz", adminContainer("", "/readyz"), true,
			[]string{"readinessProbe httpGet path /readyz fails at the trigger"}},
		{"correct, without variables", adminContainer("/prestop", "/servingz"), true, nil},
		{"another program's hook and probe", adminContainer("/quitquitquit", "/healthz"), false, nil},
		{"another program's shutdown path", adminContainer("/shutdown", ""), false, nil},
		{"/readyz on a port that is not the admin port", func() corev1.Container {
			c := adminContainer("", "/readyz")
			c.ReadinessProbe.HTTPGet.Port = intstr.FromString("http")
			return c
		}(), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.configured, manifestcheck.ConfiguredForTest(tt.c), "configured for lameduck")
			w := manifestcheck.Workload{Kind: "Pod", Name: "p", Spec: corev1.PodSpec{Containers: []corev1.Container{tt.c}}}
			findings, checked := manifestcheck.CheckWorkload(w)
			if !tt.configured {
				assert.Zero(t, checked)
				assert.Empty(t, findings)
				return
			}
			assert.Equal(t, 1, checked)
			var problems []string
			for _, f := range findings {
				if !f.Note {
					problems = append(problems, f.Problem)
				}
			}
			assertMatch(t, tt.want, problems, "problems")
		})
	}
}

// TestReadinessServingz checks the rule on the path of the kubelet's
// readinessProbe: /servingz passes, /readyz is a problem that says why and
// the fix, and a probe that is not an httpGet (the gRPC health service) is
// left alone.
func TestReadinessServingz(t *testing.T) {
	c := adminContainer("/prestop", "/readyz")
	w := manifestcheck.Workload{Kind: "Pod", Name: "p", Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
	findings, _ := manifestcheck.CheckWorkload(w)
	if assert.Len(t, findings, 1) {
		f := findings[0]
		assert.False(t, f.Note)
		assert.Contains(t, f.Problem, "kube-proxy")
		assert.Contains(t, f.Fix, "/servingz")
		assert.Contains(t, f.Fix, "/readyz for load balancers that probe pods")
	}

	c.ReadinessProbe.HTTPGet = nil
	c.ReadinessProbe.GRPC = &corev1.GRPCAction{Port: 8080}
	findings, _ = manifestcheck.CheckWorkload(manifestcheck.Workload{Kind: "Pod", Name: "p", Spec: corev1.PodSpec{Containers: []corev1.Container{c}}})
	assert.Empty(t, findings, "a gRPC probe")
}

// TestSlowReadinessDoesNotOverflow checks that periodSeconds ×
// failureThreshold is compared without overflowing a time.Duration: the
// slowest probes the API allows are reported, not passed.
func TestSlowReadinessDoesNotOverflow(t *testing.T) {
	for _, p := range []struct{ period, threshold int32 }{
		{math.MaxInt32, math.MaxInt32},
		{math.MaxInt32, 5},
		{1 << 20, 1 << 20},
		{3_000_000, 3_100}, // 9.3e9 s: just past what a time.Duration holds
	} {
		c := adminContainer("/prestop", "/servingz")
		c.ReadinessProbe.PeriodSeconds, c.ReadinessProbe.FailureThreshold = p.period, p.threshold
		findings, _ := manifestcheck.CheckWorkload(manifestcheck.Workload{Kind: "Pod", Name: "p", Spec: corev1.PodSpec{Containers: []corev1.Container{c}}})
		if assert.Len(t, findings, 1, "period %d × threshold %d", p.period, p.threshold) {
			assert.Contains(t, findings[0].Problem, "exceeds SHUTDOWN_PROPAGATION_DELAY 5s (default)")
		}
	}
}
