package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// manifest is one file of examples/kubernetes: a Deployment and its Service.
type manifest struct {
	deployment appsv1.Deployment
	service    corev1.Service
}

func readManifest(t *testing.T, file string) *manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "examples", "kubernetes", file))
	if err != nil {
		t.Fatal(err)
	}
	m := &manifest{}
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var kind struct{ Kind string }
		if err := yaml.Unmarshal(doc, &kind); err != nil {
			t.Fatal(err)
		}
		switch kind.Kind {
		case "Deployment":
			err = yaml.UnmarshalStrict(doc, &m.deployment)
		case "Service":
			err = yaml.UnmarshalStrict(doc, &m.service)
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	if m.deployment.Name == "" || m.service.Name == "" {
		t.Fatalf("%s: want a Deployment and a Service", file)
	}
	return m
}

// podSpec is what the rollout changes in the manifest's pod template to
// run it on this node, and nothing else: the lifecycle (preStop hook,
// probes, grace period, SHUTDOWN_* env) stays as written.
type podSpec struct {
	name, image    string
	traffic, admin int    // distinct ports per pod, on 127.0.0.1
	data           string // host directory for the data volume
	labels         map[string]string
	strategy       string // overrides STRATEGY unless empty
}

// pod adapts the manifest's pod template:
//   - hostNetwork (there is no CNI), with ADDR and ADMIN_ADDR on 127.0.0.1
//     and ports of this pod's own, since pods share the host's ports;
//   - host: 127.0.0.1 in every httpGet probe and hook: without it the
//     kubelet would use the pod IP, which for hostNetwork pods is the node's
//     address, and the services listen on loopback only;
//   - a gRPC readiness probe becomes an httpGet of the admin /readyz, which
//     fails at the same moment (the trigger): a gRPC probe has no host field
//     and would dial the node's address;
//   - the local image, never pulled;
//   - the data volume is a host directory instead of an emptyDir, so that
//     the rows and journal lines can be counted after the pod is gone.
func (m *manifest) pod(t *testing.T, s podSpec) *corev1.Pod {
	t.Helper()
	tmpl := m.deployment.Spec.Template.DeepCopy()
	spec := tmpl.Spec
	spec.HostNetwork = true
	if len(spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(spec.Containers))
	}
	c := &spec.Containers[0]
	c.Image, c.ImagePullPolicy = s.image, corev1.PullNever
	for i, e := range c.Env {
		switch e.Name {
		case "ADDR":
			c.Env[i].Value = hostPort(s.traffic)
		case "ADMIN_ADDR":
			c.Env[i].Value = hostPort(s.admin)
		case "STRATEGY":
			if s.strategy != "" {
				c.Env[i].Value = s.strategy
			}
		}
	}
	for i, p := range c.Ports {
		port := s.traffic
		if p.Name == "admin" {
			port = s.admin
		}
		c.Ports[i].ContainerPort, c.Ports[i].HostPort = int32(port), int32(port)
	}
	for _, p := range []*corev1.Probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
		if p == nil {
			continue
		}
		if p.GRPC != nil {
			p.GRPC = nil
			p.HTTPGet = &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("admin")}
		}
		if p.HTTPGet != nil {
			p.HTTPGet.Host = "127.0.0.1"
		}
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.HTTPGet != nil {
		c.Lifecycle.PreStop.HTTPGet.Host = "127.0.0.1"
	}
	dirType := corev1.HostPathDirectory
	for i, v := range spec.Volumes {
		if v.EmptyDir != nil {
			spec.Volumes[i].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: s.data, Type: &dirType}}
		}
	}
	labels := map[string]string{}
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	for k, v := range s.labels {
		labels[k] = v
	}
	return &corev1.Pod{ObjectMeta: meta(s.name, labels), Spec: spec}
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func (s podSpec) String() string {
	return fmt.Sprintf("%s traffic %d admin %d", s.name, s.traffic, s.admin)
}
