package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const examples = "../../../examples/kubernetes"

// result is what one run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

func runWith(stdin string, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// readyzProbe is how http.yaml probes readiness until it moves to
// /servingz: its only httpGet on /readyz.
const readyzProbe = "path: /readyz"

// brokenExample writes a copy of http.yaml with its propagation delay too
// long for the grace period, and its readinessProbe on /servingz, and
// returns its path.
func brokenExample(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(examples, "http.yaml"))
	require.NoError(t, err)
	const delay = "- name: SHUTDOWN_PROPAGATION_DELAY\n              value: \"5s\""
	require.Contains(t, string(data), delay)
	broken := strings.Replace(string(data), delay, strings.Replace(delay, `"5s"`, `"29s"`, 1), 1)
	broken = strings.Replace(broken, readyzProbe, strings.Replace(readyzProbe, "/readyz", "/servingz", 1), 1)
	file := filepath.Join(t.TempDir(), "broken.yaml")
	require.NoError(t, os.WriteFile(file, []byte(broken), 0o600))
	return file
}

func TestExamplesClean(t *testing.T) {
	r := runWith("", filepath.Join(examples, "http.yaml"), filepath.Join(examples, "grpc.yaml"))
	assert.Empty(t, r.stderr)
	data, err := os.ReadFile(filepath.Join(examples, "http.yaml"))
	require.NoError(t, err)
	if strings.Contains(string(data), readyzProbe) {
		// Until http.yaml probes /servingz, that is its one problem.
		assert.Equal(t, 1, r.code)
		assert.Contains(t, r.stdout, `container "http": readinessProbe httpGet path /readyz fails at the trigger`)
		assert.True(t, strings.HasSuffix(r.stdout, "\nlameduck-check: 2 files (0 unreadable), 2 workloads (2 other objects skipped), 2 containers configured for lameduck: 1 problem, 0 notes\n"), r.stdout)
		return
	}
	assert.Equal(t, 0, r.code)
	assert.Equal(t, "lameduck-check: 2 files (0 unreadable), 2 workloads (2 other objects skipped), 2 containers configured for lameduck: 0 problems, 0 notes\n", r.stdout)
}

func TestProblemExitsOne(t *testing.T) {
	file := brokenExample(t)
	r := runWith("", filepath.Join(examples, "grpc.yaml"), file)
	assert.Equal(t, 1, r.code)
	assert.Empty(t, r.stderr)
	assert.Equal(t, file+`: Deployment/lameduck-http: container "http": SHUTDOWN_PROPAGATION_DELAY 29s + SHUTDOWN_SAFETY_MARGIN 2s (default) does not fit in the grace period 30s, so the service will not start; fix: shorten the delay or the margin, or raise terminationGracePeriodSeconds and SHUTDOWN_GRACE_PERIOD together
lameduck-check: 2 files (0 unreadable), 2 workloads (2 other objects skipped), 2 containers configured for lameduck: 1 problem, 0 notes
`, r.stdout)
}

func TestStdin(t *testing.T) {
	data, err := os.ReadFile(brokenExample(t))
	require.NoError(t, err)
	r := runWith(string(data), "-")
	assert.Equal(t, 1, r.code)
	assert.True(t, strings.HasPrefix(r.stdout, `<stdin>: Deployment/lameduck-http: container "http": SHUTDOWN_PROPAGATION_DELAY 29s`), r.stdout)
}

func TestNotesExitZero(t *testing.T) {
	const pod = `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: app
      env: [{name: SHUTDOWN_GRACE_PERIOD, valueFrom: {configMapKeyRef: {name: c, key: grace}}}]
      readinessProbe: {periodSeconds: 1, failureThreshold: 1}
`
	r := runWith(pod, "-")
	assert.Equal(t, 0, r.code, r.stdout)
	assert.Equal(t, `<stdin>: Pod/p: container "app": note: SHUTDOWN_GRACE_PERIOD is set with valueFrom (a ConfigMap, Secret or field reference): its value cannot be checked
lameduck-check: 1 file (0 unreadable), 1 workload (0 other objects skipped), 1 container configured for lameduck: 0 problems, 1 note
`, r.stdout)
}

func TestUnreadableExitsTwo(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("apiVersion: v1\nkind: Pod\nspec: {contianers: []}\n"), 0o600))
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	r := runWith("", bad, brokenExample(t), missing)
	assert.Equal(t, 2, r.code, "unreadable input wins over problems")
	assert.Contains(t, r.stderr, "lameduck-check: "+bad+`: document 1: v1 Pod: error unmarshaling JSON: while decoding JSON: json: unknown field "contianers"`)
	assert.Contains(t, r.stderr, "lameduck-check: "+missing+": no such file or directory\n")
	assert.Contains(t, r.stdout, "SHUTDOWN_PROPAGATION_DELAY 29s", "the readable file is still checked")
	assert.Contains(t, r.stdout, "lameduck-check: 3 files (2 unreadable), 1 workload (1 other object skipped)")
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"-h"}, {"--help"}} {
		r := runWith("", args...)
		assert.Equal(t, 2, r.code, args)
		assert.True(t, strings.HasPrefix(r.stderr, "usage: lameduck-check FILE..."), args)
		assert.Empty(t, r.stdout)
	}
}
