package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
