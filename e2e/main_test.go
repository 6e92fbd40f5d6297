package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/e2e/internal/binaries"
	"github.com/lameduck/lameduck/e2e/internal/rig"
)

// theRig is the node and control plane every test uses; nil when skipped.
var (
	theRig     *rig.Rig
	skipReason string
)

// builtEnv carries what binaries.Build made into the test process that runs
// in the lab's namespaces; its presence means "this is that process".
const builtEnv = "LAMEDUCK_E2E_BUILT"

func TestMain(m *testing.M) {
	flag.Parse()
	switch {
	case runtime.GOOS != "linux":
		skipReason = "e2e: skipped: needs Linux (a real kubelet and containerd)"
	case os.Geteuid() != 0:
		skipReason = "e2e: skipped: needs root (containerd, the kubelet, mounts, cgroups and network namespaces)"
	}
	if skipReason != "" {
		fmt.Println(skipReason)
		os.Exit(m.Run())
	}
	if built := os.Getenv(builtEnv); built != "" {
		os.Exit(runWithRig(m, built))
	}
	os.Exit(buildAndEnter())
}

// buildConfig is what to build; LAMEDUCK_E2E_K8S_VERSION sets the
// Kubernetes release (default binaries.DefaultK8sVersion).
func buildConfig() (binaries.Config, error) {
	wd, err := os.Getwd()
	if err != nil {
		return binaries.Config{}, err
	}
	return binaries.Config{
		K8sVersion:  os.Getenv("LAMEDUCK_E2E_K8S_VERSION"),
		ModuleDir:   wd,
		ExamplesDir: filepath.Join(wd, "..", "examples"),
		Logf:        logf,
	}, nil
}

// rigConfig is the rig's configuration; LAMEDUCK_E2E_KEEP=1 keeps its
// directory.
func rigConfig() rig.Config {
	return rig.Config{Keep: os.Getenv("LAMEDUCK_E2E_KEEP") == "1", Logf: logf}
}

// buildAndEnter builds what the rig needs here, in the machine's network
// namespace (the module proxy is needed), then runs this test binary again
// with the same arguments in a fresh network and mount namespace, where
// the whole cluster lives, and returns its exit code. Nothing after the
// build can reach the machine's network, and nothing the cluster does can
// touch it: its interfaces, routes and rule sets stay the machine's own.
func buildAndEnter() int {
	cfg, err := buildConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	built, err := binaries.Build(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build failed:", err)
		return 1
	}
	defer os.RemoveAll(built.Dir)
	logf("e2e: built in %v", time.Since(start).Round(time.Second))
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	args := []string{"--net", "--mount", "--propagation", "private", "--", exe}
	for _, a := range os.Args[1:] {
		if !strings.HasPrefix(a, "-test.testlogfile") { // written by this process only
			args = append(args, a)
		}
	}
	before := machineNetwork()
	cmd := exec.Command("unshare", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), builtEnv+"="+built.Encode(), "GOPROXY=off")
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		code = exit.ExitCode()
	}
	if after := machineNetwork(); after != before {
		fmt.Fprintf(os.Stderr, "e2e: the machine's network changed during the run:\nbefore:\n%s\nafter:\n%s\n", before, after)
		return 1
	}
	logf("e2e: the machine's links, addresses, routes, nftables rule set and iptables rules are as before the run")
	return code
}

// machineNetwork describes the machine's own network: its links (by
// name), addresses, routes, its whole nftables rule set and its iptables
// rules (iptables-save: kube-proxy in iptables mode and the CNI portmap
// plugin write through it), without the packet counters, which change by
// themselves.
func machineNetwork() string {
	var b strings.Builder
	for _, argv := range [][]string{{"ip", "-br", "link"}, {"ip", "-br", "addr"}, {"ip", "route"}, {"nft", "list", "ruleset"}, {"iptables-save"}, {"ip6tables-save"}} {
		if _, err := exec.LookPath(argv[0]); err != nil && argv[0] != "ip" && argv[0] != "nft" {
			continue // iptables is not installed: nothing can have written through it
		}
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		fmt.Fprintf(&b, "$ %s (%v)\n", strings.Join(argv, " "), err)
		for _, line := range strings.Split(string(out), "\n") {
			switch {
			case argv[0] == "ip" && argv[1] == "-br" && argv[2] == "link":
				if f := strings.Fields(line); len(f) > 0 {
					line = f[0] // a link's state and flags may change by themselves
				}
			case argv[0] == "nft":
				line = nftCounter.ReplaceAllString(line, "counter")
			case strings.HasPrefix(line, "#"):
				continue // iptables-save's comments carry the time
			default:
				line = iptCounter.ReplaceAllString(line, "[-:-]")
			}
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

var (
	nftCounter = regexp.MustCompile(`counter packets \d+ bytes \d+`)
	iptCounter = regexp.MustCompile(`\[\d+:\d+\]`)
)

func runWithRig(m *testing.M, encoded string) int {
	built, err := binaries.DecodeBuilt(encoded)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	theRig, err = rig.Up(ctx, rigConfig(), built)
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
	for _, n := range r.Nodes {
		if err := r.API.Get(context.Background(), "/api/v1/nodes/"+n.Name, &node); err != nil {
			t.Fatal(err)
		}
	}
}
