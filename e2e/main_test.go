package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/e2e/internal/rig"
)

// theRig is the node and control plane every test uses; nil when skipped.
var (
	theRig     *rig.Rig
	skipReason string
)

func TestMain(m *testing.M) {
	flag.Parse()
	switch {
	case runtime.GOOS != "linux":
		skipReason = "e2e: skipped: needs Linux (a real kubelet and containerd)"
	case os.Geteuid() != 0:
		skipReason = "e2e: skipped: needs root (containerd, the kubelet, mounts and cgroups)"
	}
	if skipReason != "" {
		fmt.Println(skipReason)
		os.Exit(m.Run())
	}
	os.Exit(runWithRig(m))
}

func runWithRig(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	theRig, err = rig.Up(ctx, rig.Config{
		ModuleDir:   wd,
		ExamplesDir: filepath.Join(wd, "..", "examples"),
		Keep:        os.Getenv("LAMEDUCK_E2E_KEEP") == "1",
		Logf:        logf,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: bring-up failed:", err)
		return 1
	}
	logf("e2e: rig up in %v", time.Since(start).Round(time.Second))
	code := m.Run()
	if err := theRig.Down(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: teardown:", err)
		code = 1
	}
	theRig.API.Close()
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: goroutines leaked:", err)
		code = 1
	}
	return code
}

func logf(format string, args ...any) {
	fmt.Printf("%s %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// needRig skips t when the rig could not run here.
func needRig(t *testing.T) *rig.Rig {
	t.Helper()
	if theRig == nil {
		t.Skip(skipReason)
	}
	return theRig
}

func TestRigUp(t *testing.T) {
	r := needRig(t)
	var node struct {
		Status struct {
			NodeInfo struct{ KubeletVersion string } `json:"nodeInfo"`
		} `json:"status"`
	}
	if err := r.API.Get(context.Background(), "/api/v1/nodes/"+r.Node, &node); err != nil {
		t.Fatal(err)
	}
	t.Logf("kubelet %s", node.Status.NodeInfo.KubeletVersion)
}
