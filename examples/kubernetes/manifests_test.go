package kubernetes_test

import (
	"net"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// safetyMargin is the shutdown package's default safety margin, used when
// a manifest does not set SHUTDOWN_SAFETY_MARGIN.
const safetyMargin = 2 * time.Second

// knownEnv is every variable the example services read; anything else in a
// manifest is a typo that the service would silently ignore.
var knownEnv = map[string]bool{
	"ADDR": true, "ADMIN_ADDR": true, "DATA_DIR": true, "STRATEGY": true,
	"SHUTDOWN_GRACE_PERIOD": true, "SHUTDOWN_PROPAGATION_DELAY": true,
	"SHUTDOWN_SAFETY_MARGIN": true, "SHUTDOWN_PRESTOP_TOKEN": true,
	"TLS_CERT_FILE": true, "TLS_KEY_FILE": true,
}

// manifest is one decoded file: a Deployment and the Service in front of it.
type manifest struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
}

func TestManifests(t *testing.T) {
	tests := []struct {
		file string
	}{
		{file: "http.yaml"},
		{file: "grpc.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m := decode(t, tt.file)
			spec := m.deployment.Spec.Template.Spec
			require.Len(t, spec.Containers, 1)
			c := spec.Containers[0]
			env := envOf(t, c)
			traffic, admin := port(t, env["ADDR"]), port(t, env["ADMIN_ADDR"])

			t.Run("grace period", func(t *testing.T) { checkGrace(t, spec, env) })
			t.Run("ports", func(t *testing.T) { checkPorts(t, c, traffic, admin) })
			t.Run("preStop", func(t *testing.T) { checkPreStop(t, c, admin) })
			t.Run("probes", func(t *testing.T) { checkProbes(t, c, env, admin) })
			t.Run("data dir", func(t *testing.T) { checkDataDir(t, c, env) })
			t.Run("rollout", func(t *testing.T) { checkRollout(t, m.deployment) })
			t.Run("service", func(t *testing.T) { checkService(t, m, c, traffic, admin) })
		})
	}
}

// decode reads a file of YAML documents strictly: an unknown or misspelt
// field fails the test instead of being dropped as kubectl would warn.
func decode(t *testing.T, file string) manifest {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var m manifest
	for i, doc := range splitDocuments(data) {
		var tm metav1.TypeMeta
		require.NoError(t, yaml.Unmarshal(doc, &tm), "document %d", i)
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			require.Nil(t, m.deployment, "second Deployment in document %d", i)
			m.deployment = new(appsv1.Deployment)
			require.NoError(t, yaml.UnmarshalStrict(doc, m.deployment), "document %d", i)
		case "v1 Service":
			require.Nil(t, m.service, "second Service in document %d", i)
			m.service = new(corev1.Service)
			require.NoError(t, yaml.UnmarshalStrict(doc, m.service), "document %d", i)
		default:
			t.Fatalf("document %d: unexpected %s %s", i, tm.APIVersion, tm.Kind)
		}
	}
	require.NotNil(t, m.deployment, "no Deployment")
	require.NotNil(t, m.service, "no Service")
	return m
}

var separator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitDocuments splits a YAML stream at its "---" lines and drops
// documents that hold only comments.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, doc := range separator.Split(string(data), -1) {
		var v any
		if err := yaml.Unmarshal([]byte(doc), &v); err == nil && v == nil {
			continue
		}
		docs = append(docs, []byte(doc))
	}
	return docs
}

// envOf returns the container's environment; every value must be literal
// and every name one the services read.
func envOf(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	env := make(map[string]string)
	for _, e := range c.Env {
		assert.True(t, knownEnv[e.Name], "unknown variable %s", e.Name)
		assert.Nil(t, e.ValueFrom, "%s must be literal so that it can be checked", e.Name)
		env[e.Name] = e.Value
	}
	for _, name := range []string{"ADDR", "ADMIN_ADDR", "SHUTDOWN_GRACE_PERIOD", "SHUTDOWN_PROPAGATION_DELAY"} {
		require.Contains(t, env, name)
	}
	return env
}

// duration parses a duration as the services do: whole seconds or a Go
// duration.
func duration(t *testing.T, v string) time.Duration {
	t.Helper()
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err)
	return d
}

func port(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	n, err := strconv.ParseInt(p, 10, 32)
	require.NoError(t, err)
	require.Positive(t, n, "a pod needs a fixed port, not %q", addr)
	return int32(n)
}

// resolve turns a probe's or hook's port (a number or a port name) into a
// container port number.
func resolve(t *testing.T, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("no container port named %q", p.StrVal)
	return 0
}

func checkGrace(t *testing.T, spec corev1.PodSpec, env map[string]string) {
	grace := duration(t, env["SHUTDOWN_GRACE_PERIOD"])
	require.NotNil(t, spec.TerminationGracePeriodSeconds, "set terminationGracePeriodSeconds; the default 30 is not visible to the service")
	assert.Equal(t, grace, time.Duration(*spec.TerminationGracePeriodSeconds)*time.Second,
		"terminationGracePeriodSeconds and SHUTDOWN_GRACE_PERIOD disagree")
	delay := duration(t, env["SHUTDOWN_PROPAGATION_DELAY"])
	margin := safetyMargin
	if v, ok := env["SHUTDOWN_SAFETY_MARGIN"]; ok {
		margin = duration(t, v)
	}
	assert.Less(t, delay+margin, grace, "the drain needs time after the propagation delay and before the safety margin")
}

func checkPorts(t *testing.T, c corev1.Container, traffic, admin int32) {
	got := make(map[int32]bool)
	for _, cp := range c.Ports {
		assert.True(t, cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP, "port %s: TCP", cp.Name)
		got[cp.ContainerPort] = true
	}
	assert.Equal(t, map[int32]bool{traffic: true, admin: true}, got, "container ports are those of ADDR and ADMIN_ADDR")
	assert.NotEqual(t, traffic, admin, "admin and traffic on separate ports")
}

func checkPreStop(t *testing.T, c corev1.Container, admin int32) {
	require.NotNil(t, c.Lifecycle)
	require.NotNil(t, c.Lifecycle.PreStop)
	h := c.Lifecycle.PreStop.HTTPGet
	require.NotNil(t, h, "preStop must be httpGet")
	assert.Equal(t, "/prestop", h.Path)
	assert.Equal(t, admin, resolve(t, c, h.Port), "preStop on the admin port")
	assert.Contains(t, []corev1.URIScheme{"", corev1.URISchemeHTTP}, h.Scheme)
	assert.Empty(t, h.Host, "the kubelet must call the pod IP")
	assert.Nil(t, c.Lifecycle.PostStart, "start-up gating belongs in the probes")
}

func checkProbes(t *testing.T, c corev1.Container, env map[string]string, admin int32) {
	httpProbe := func(name string, p *corev1.Probe, path string) {
		require.NotNil(t, p, name)
		require.NotNil(t, p.HTTPGet, "%s: httpGet", name)
		assert.Equal(t, path, p.HTTPGet.Path, name)
		assert.Equal(t, admin, resolve(t, c, p.HTTPGet.Port), "%s on the admin port", name)
	}
	httpProbe("startupProbe", c.StartupProbe, "/startupz")
	httpProbe("livenessProbe", c.LivenessProbe, "/livez")
	// The kubelet's probe keeps the pod a serving endpoint through the
	// delay (kube-proxy's fallback to terminating endpoints), for gRPC too:
	// the gRPC health service fails at the trigger.
	httpProbe("readinessProbe", c.ReadinessProbe, "/servingz")
	// The probe must see the failing readiness before the delay ends, or
	// the pod stays a fallback endpoint into the drain.
	r := c.ReadinessProbe
	noticed := time.Duration(orDefault(r.PeriodSeconds, 10)*orDefault(r.FailureThreshold, 3)) * time.Second
	assert.Less(t, noticed, duration(t, env["SHUTDOWN_PROPAGATION_DELAY"]),
		"readiness periodSeconds × failureThreshold must fit in the propagation delay")
}

// orDefault returns v, or the API server's default def when v is unset.
func orDefault(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

func checkDataDir(t *testing.T, c corev1.Container, env map[string]string) {
	dir, ok := env["DATA_DIR"]
	if !assert.True(t, ok, "DATA_DIR on a volume: the root filesystem may be read-only") {
		return
	}
	var mounts []string
	for _, vm := range c.VolumeMounts {
		mounts = append(mounts, vm.MountPath)
	}
	assert.Contains(t, mounts, dir, "DATA_DIR is a mounted volume")
	assert.Equal(t, "lameduck", env["STRATEGY"], "the manifests show the lameduck strategy")
}

func checkRollout(t *testing.T, d *appsv1.Deployment) {
	s := d.Spec.Strategy
	require.Equal(t, appsv1.RollingUpdateDeploymentStrategyType, s.Type)
	require.NotNil(t, s.RollingUpdate)
	require.NotNil(t, s.RollingUpdate.MaxUnavailable)
	unavailable, err := intstr.GetScaledValueFromIntOrPercent(s.RollingUpdate.MaxUnavailable, 100, false)
	require.NoError(t, err)
	assert.Zero(t, unavailable, "maxUnavailable 0: the new pod is ready before an old one goes")
	require.NotNil(t, s.RollingUpdate.MaxSurge)
	surge, err := intstr.GetScaledValueFromIntOrPercent(s.RollingUpdate.MaxSurge, 100, true)
	require.NoError(t, err)
	assert.Positive(t, surge, "with maxUnavailable 0, maxSurge must let a new pod in")

	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	require.NoError(t, err)
	assert.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "the selector picks the template's pods")
}

func checkService(t *testing.T, m manifest, c corev1.Container, traffic, admin int32) {
	s := m.service.Spec
	require.NotEmpty(t, s.Selector)
	assert.True(t, labels.SelectorFromSet(s.Selector).Matches(labels.Set(m.deployment.Spec.Template.Labels)),
		"the Service selects the Deployment's pods")
	require.NotEmpty(t, s.Ports)
	var targets []int32
	for _, p := range s.Ports {
		target := p.TargetPort
		if target == (intstr.IntOrString{}) {
			target = intstr.FromInt32(p.Port) // the API server's default
		}
		targets = append(targets, resolve(t, c, target))
	}
	assert.Equal(t, []int32{traffic}, targets, "the Service exposes the traffic port only")
	assert.NotContains(t, targets, admin)
}
