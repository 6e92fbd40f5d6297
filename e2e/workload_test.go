package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/lameduck/lameduck/e2e/internal/binaries"
	"github.com/lameduck/lameduck/e2e/internal/rig"
)

// Strategies a scenario runs side by side, with the same manifest but for
// what each needs.
const (
	// none handles no signal: PID 1 exits 2 at SIGTERM.
	none = "none"
	// shutdownAtSIGTERM is http.Server.Shutdown (or GracefulStop) at
	// SIGTERM, with no preStop hook.
	shutdownAtSIGTERM = "shutdown"
	// sleep is the native preStop sleep action for the propagation delay,
	// then Shutdown at SIGTERM; readiness passes until the admin server
	// closes.
	sleep = "sleep"
	// lameduck is the manifest as written: the preStop httpGet of
	// /prestop, the kubelet's readinessProbe on /servingz, which keeps
	// passing until the drain starts after a SIGTERM or /prestop trigger.
	lameduck = "lameduck"
	// lameduckReadyz is lameduck with the kubelet's readinessProbe on
	// /readyz, which fails at the trigger: the design before /servingz,
	// kept as the comparison that decided it.
	lameduckReadyz = "lameduck-readyz"
)

// strategies are the strategies every scenario runs. lameduckReadyz, the
// comparison that decided /servingz, joins them with
// LAMEDUCK_E2E_READYZ=1, which adds a fifth set of pods and about 30 s.
var strategies = func() []string {
	s := []string{none, shutdownAtSIGTERM, sleep, lameduck}
	if os.Getenv(readyzEnv) == "1" {
		s = append(s, lameduckReadyz)
	}
	return s
}()

// readyzEnv adds lameduckReadyz to every scenario.
const readyzEnv = "LAMEDUCK_E2E_READYZ"

// workload is one strategy's Deployment and Service, made from a manifest
// of examples/kubernetes.
type workload struct {
	strategy   string
	deployment *appsv1.Deployment
	service    *corev1.Service
	dataDir    string        // host directory of the pods' data directories
	path       string        // the collection of its controller: Deployments, or StatefulSets
	delay      time.Duration // its SHUTDOWN_PROPAGATION_DELAY
}

// workload adapts the manifest to this cluster for one strategy:
//   - names and labels suffixed by the scenario's tag and the strategy,
//     so that the strategies run side by side as Deployments of their
//     own, and scenarios do not meet;
//   - the local image, never pulled;
//   - the data volume is a host directory, so that rows and journal lines
//     can be counted after the pods are gone: each pod writes in its own
//     subdirectory (DATA_DIR=/data/$(POD_NAME));
//   - the strategy's lifecycle: none and shutdown lose the preStop hook
//     and set STRATEGY; sleep gets lifecycle.preStop.sleep for the
//     manifest's SHUTDOWN_PROPAGATION_DELAY; lameduck keeps the manifest
//     as written, and lameduckReadyz probes /readyz instead of
//     /servingz;
//   - a gRPC readiness probe, kept, reaches the pod IP like an httpGet.
//
// The probes, grace period, resources and security context stay as
// written.
func (m *manifest) workload(t *testing.T, r *rig.Rig, tag, strategy, image string) *workload {
	t.Helper()
	d := m.deployment.DeepCopy()
	s := m.service.DeepCopy()
	name := d.Name + "-" + tag + "-" + strategy
	labels := map[string]string{"app.kubernetes.io/name": name, "e2e": "workload"}
	d.ObjectMeta = meta(name, labels)
	d.Spec.Selector.MatchLabels = map[string]string{"app.kubernetes.io/name": name}
	d.Spec.Template.Labels = labels
	s.ObjectMeta = meta(name, labels)
	s.Spec.Selector = map[string]string{"app.kubernetes.io/name": name}

	spec := &d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(spec.Containers))
	}
	c := &spec.Containers[0]
	c.Image, c.ImagePullPolicy = image, corev1.PullNever
	env := []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
	var delay time.Duration
	for _, e := range c.Env {
		switch e.Name {
		case "DATA_DIR":
			e.Value = "/data/$(POD_NAME)"
		case "STRATEGY":
			e.Value = map[string]string{none: "none", shutdownAtSIGTERM: "shutdown", sleep: "shutdown", lameduck: "lameduck", lameduckReadyz: "lameduck"}[strategy]
		case "SHUTDOWN_PROPAGATION_DELAY":
			var err error
			if delay, err = time.ParseDuration(e.Value); err != nil {
				t.Fatalf("SHUTDOWN_PROPAGATION_DELAY: %v", err)
			}
		}
		env = append(env, e)
	}
	c.Env = env
	switch strategy {
	case none, shutdownAtSIGTERM:
		c.Lifecycle = nil
	case sleep:
		c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: int64(delay / time.Second)}}}
	case lameduckReadyz:
		if p := c.ReadinessProbe; p != nil && p.HTTPGet != nil {
			p.HTTPGet.Path = "/readyz"
		}
	}
	dir := filepath.Join(r.Dir, "data", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, binaries.ImageUser, binaries.ImageUser); err != nil {
		t.Fatal(err)
	}
	dirType := corev1.HostPathDirectory
	for i, v := range spec.Volumes {
		if v.EmptyDir != nil {
			spec.Volumes[i].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &dirType}}
		}
	}
	return &workload{strategy: strategy, deployment: d, service: s, dataDir: dir, path: deploymentsPath, delay: delay}
}

// statefulSet returns the workload as a StatefulSet of one replica with
// the Deployment's pod template: an update deletes the pod before its
// replacement is made, so every endpoint of the Service is terminating
// for a while.
func (w *workload) statefulSet() *appsv1.StatefulSet {
	one := int32(1)
	d := w.deployment
	return &appsv1.StatefulSet{
		ObjectMeta: d.ObjectMeta,
		Spec: appsv1.StatefulSetSpec{
			Replicas:       &one,
			Selector:       d.Spec.Selector,
			Template:       d.Spec.Template,
			ServiceName:    w.service.Name,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
		},
	}
}

// rolledOut reports whether the workload's controller has observed its
// latest generation and every replica is updated and available, with its
// status for messages.
func (w *workload) rolledOut(ctx context.Context, r *rig.Rig) (bool, string, error) {
	if w.path == statefulSetsPath {
		var s appsv1.StatefulSet
		if err := r.API.Get(ctx, w.path+"/"+w.deployment.Name, &s); err != nil {
			return false, "", err
		}
		st, want := s.Status, *s.Spec.Replicas
		return st.ObservedGeneration >= s.Generation && st.UpdatedReplicas == want && st.ReadyReplicas == want &&
			st.Replicas == want && st.CurrentRevision == st.UpdateRevision, fmt.Sprintf("%+v", st), nil
	}
	var d appsv1.Deployment
	if err := r.API.Get(ctx, w.path+"/"+w.deployment.Name, &d); err != nil {
		return false, "", err
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want && st.AvailableReplicas == want &&
		st.Replicas == want, fmt.Sprintf("%+v", st), nil
}

// addr returns the Service's first port as "IP:port" once it has a
// ClusterIP.
func (w *workload) addr(svc *corev1.Service) string {
	return svc.Spec.ClusterIP + ":" + strconv.Itoa(int(svc.Spec.Ports[0].Port))
}
