package manifestcheck_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/manifestcheck"
)

// stream holds one object of each kind Parse reads, and some it skips.
const stream = `# a comment-only document
---
apiVersion: v1
kind: Pod
metadata: {name: pod, namespace: ns}
spec:
  containers: [{name: p}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: deploy}
spec:
  selector: {}
  template: {spec: {containers: [{name: d}]}}
---   # a comment after the separator
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: sts}
spec:
  selector: {}
  template: {spec: {containers: [{name: s}]}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds}
spec:
  selector: {}
  template: {spec: {containers: [{name: ds}]}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs}
spec:
  selector: {}
  template: {spec: {containers: [{name: rs}]}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: job}
spec:
  template: {spec: {containers: [{name: j}]}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cron}
spec:
  schedule: "@daily"
  jobTemplate: {spec: {template: {spec: {containers: [{name: c}]}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data: {a: b}
---
apiVersion: apps/v1beta1
kind: Deployment
metadata: {name: old}
---
{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "listed"}, "spec": {"containers": [{"name": "l"}]}},
  {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}}
]}
---
`

func TestParseKinds(t *testing.T) {
	ws, skipped, err := manifestcheck.Parse([]byte(stream))
	require.NoError(t, err)
	assert.Equal(t, 3, skipped, "ConfigMap, apps/v1beta1 Deployment, Service")
	type got struct {
		object, container string
		document          int
	}
	var objects []got
	for _, w := range ws {
		require.Len(t, w.Spec.Containers, 1, w.String())
		objects = append(objects, got{w.String(), w.Spec.Containers[0].Name, w.Document})
	}
	assert.Equal(t, []got{
		{"Pod/ns/pod", "p", 1},
		{"Deployment/deploy", "d", 2},
		{"StatefulSet/sts", "s", 3},
		{"DaemonSet/ds", "ds", 4},
		{"ReplicaSet/rs", "rs", 5},
		{"Job/job", "j", 6},
		{"CronJob/cron", "c", 7},
		{"Pod/listed", "l", 10},
	}, objects)
}

func TestCheckMultiDocument(t *testing.T) {
	var data []byte
	for _, f := range []string{"http.yaml", "grpc.yaml"} {
		b, err := os.ReadFile(filepath.Join(examples, f))
		require.NoError(t, err)
		// The readinessProbe on /servingz, as the checks want it.
		b = []byte(strings.Replace(string(b), "path: /readyz", "path: /servingz", 1))
		data = append(append(data, b...), "\n---\n"...)
	}
	r, err := manifestcheck.Check("both.yaml", data)
	require.NoError(t, err)
	assert.Equal(t, manifestcheck.Report{Workloads: 2, Skipped: 2, Containers: 2}, r)

	broken := append(data, `
apiVersion: v1
kind: Pod
metadata: {name: broken}
spec:
  terminationGracePeriodSeconds: 10
  containers: [{name: app, env: [{name: SHUTDOWN_PROPAGATION_DELAY, value: 1s}], readinessProbe: {periodSeconds: 1, failureThreshold: 1}}]
`...)
	r, err = manifestcheck.Check("both.yaml", broken)
	require.NoError(t, err)
	assert.Equal(t, 3, r.Containers)
	require.Len(t, r.Findings, 1)
	assert.Equal(t, `both.yaml: Pod/broken: container "app": SHUTDOWN_GRACE_PERIOD 30s (default) differs from terminationGracePeriodSeconds 10; `+
		`fix: set terminationGracePeriodSeconds and SHUTDOWN_GRACE_PERIOD to the same number of seconds: the kubelet kills at the first, the service plans its drain with the second`,
		r.Findings[0].String())
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"misspelt field", "apiVersion: v1\nkind: Pod\nspec: {contianers: []}", `document 1: v1 Pod: error unmarshaling JSON: while decoding JSON: json: unknown field "contianers"`},
		{"duplicate field", "apiVersion: v1\nkind: Pod\nmetadata: {name: a, name: b}", `document 1: v1 Pod: error converting YAML to JSON: yaml: unmarshal errors:`},
		{"wrong type", "apiVersion: v1\nkind: Pod\nspec: {terminationGracePeriodSeconds: soon}", "document 1: v1 Pod: error unmarshaling JSON"},
		{"in a later document", "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: batch/v1\nkind: Job\nspec: {parallelism: [1]}", "document 2: batch/v1 Job"},
		{"in a List", `{"apiVersion": "v1", "kind": "List", "items": [{"kind": "Pod"}]}`, "document 1: v1 List item 0: not a Kubernetes object: apiVersion or kind is missing"},
		{"no kind", "apiVersion: v1\nmetadata: {name: a}", "document 1: not a Kubernetes object: apiVersion or kind is missing"},
		{"not a mapping", "- a\n- b", "document 1: not a Kubernetes object"},
		{"not YAML", "a: [", "document 1: not a Kubernetes object"},
		{"bad separator", "apiVersion: v1\nkind: ConfigMap\n--- x\n", "manifestcheck: after document 0:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, skipped, err := manifestcheck.Parse([]byte(tt.doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Nil(t, ws)
			assert.Zero(t, skipped)
		})
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "\n", "# nothing\n---\n---\n"} {
		ws, skipped, err := manifestcheck.Parse([]byte(in))
		require.NoError(t, err, "%q", in)
		assert.Empty(t, ws)
		assert.Zero(t, skipped)
	}
}

// FuzzParse checks that no input makes Parse or the checks panic, and that
// what they return is consistent.
func FuzzParse(f *testing.F) {
	for _, file := range []string{"http.yaml", "grpc.yaml"} {
		b, err := os.ReadFile(filepath.Join(examples, file))
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte(stream))
	f.Add([]byte("apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, env: [{name: SHUTDOWN_GRACE_PERIOD, value: '9223372037'}], lifecycle: {preStop: {httpGet: {path: /prestop, port: x}}}}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ws, skipped, err := manifestcheck.Parse(data)
		if err != nil {
			if ws != nil || skipped != 0 {
				t.Fatalf("Parse returned %d workloads and %d skipped with error %v", len(ws), skipped, err)
			}
			return
		}
		for _, w := range ws {
			findings, checked := manifestcheck.CheckWorkload(w)
			if checked == 0 && len(findings) > 0 {
				t.Fatalf("%s: findings about no checked container: %v", w, findings)
			}
			for _, fd := range findings {
				if fd.Problem == "" || fd.Note != (fd.Fix == "") {
					t.Fatalf("%s: malformed finding %#v", w, fd)
				}
			}
		}
	})
}
