package e2e

import "testing"

// TestPropagationSummary logs the distribution of every scenario's propagation
// so far; it runs after them (tests run in source order, files by name:
// keep the scenarios in files named before this one).
func TestPropagationSummary(t *testing.T) {
	needRig(t)
	propagations.Lock()
	defer propagations.Unlock()
	t.Logf("every scenario: API call -> last new connection kube-proxy sent the old pod: %v", propagations.all)
}
