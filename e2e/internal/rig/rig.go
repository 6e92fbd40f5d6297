// Package rig brings up a real two-node Kubernetes on this machine for the
// end-to-end tests, and tears it down again. It is the machinery only; the
// scenarios live in the tests.
//
// What runs where:
//
//   - [Build], in the machine's own network namespace (it needs the Go
//     module proxy): installs containerd, runc and nftables from the
//     distribution when missing, builds etcd and the Kubernetes binaries
//     (kubelet, kube-apiserver, kube-controller-manager, kube-scheduler,
//     kube-proxy) and the CNI plugins, caching them between runs, and the
//     images of the example services and the tests' own programs.
//   - [Up], in a fresh network namespace that becomes the lab (package
//     netlab): the control plane (etcd, kube-apiserver on the lab's
//     address, kube-controller-manager with the controllers a Deployment,
//     a StatefulSet, a node drain and EndpointSlices need, kube-scheduler),
//     and two nodes, each in its own network namespace with its own
//     containerd, kubelet (own root directory, cgroup root and mount
//     namespace), kube-proxy in nftables mode and CNI bridge for its pods
//     (controlplane.go, node.go).
//
// Nothing is routed to or from the machine's interfaces and no rule is
// written outside the lab's namespaces. The kubelets run in private mount
// namespaces in which the kernel tunables they would set are shadowed, so
// the machine keeps its own. [Rig.Down] ends only the processes the rig
// started, by PID (and the shims of its containerds), and removes the
// mounts, cgroups, namespaces and paths they made.
//
// It needs Linux with cgroup v1, root, and the go command.
package rig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/template"
	"time"

	"github.com/lameduck/lameduck/e2e/internal/kube"
	"github.com/lameduck/lameduck/e2e/internal/netlab"
)

// DefaultK8sVersion is the Kubernetes release the rig builds.
const DefaultK8sVersion = "v1.37.2"

// DefaultNodes is the number of nodes.
const DefaultNodes = 2

// Image references of the images the rig builds and loads.
const (
	PauseImage  = "registry.k8s.io/pause:lameduck-e2e"
	HTTPImage   = "docker.io/lameduck-e2e/http:local"
	GRPCImage   = "docker.io/lameduck-e2e/grpc:local"
	TimingImage = "docker.io/lameduck-e2e/timing:local"
)

// ImageUser is the user of the example images: distroless's nonroot, as in
// the images ko builds for examples/kubernetes (runAsNonRoot needs a
// numeric user).
const ImageUser = 65532

// Config says where the rig finds and keeps things.
type Config struct {
	// K8sVersion defaults to [DefaultK8sVersion].
	K8sVersion string
	// Nodes defaults to [DefaultNodes].
	Nodes int
	// CacheDir keeps the binaries between runs; defaults to
	// $XDG_CACHE_HOME/lameduck-e2e (or ~/.cache/lameduck-e2e).
	CacheDir string
	// ModuleDir is the e2e module's directory (its programs are built from
	// it) and ExamplesDir the examples module's.
	ModuleDir, ExamplesDir string
	// Keep leaves the temporary directory (logs, data) after Down.
	Keep bool
	// Logf reports progress; nil discards it.
	Logf func(format string, args ...any)
}

func (c *Config) defaults() error {
	if c.K8sVersion == "" {
		c.K8sVersion = DefaultK8sVersion
	}
	if c.Nodes == 0 {
		c.Nodes = DefaultNodes
	}
	if c.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("rig: CacheDir: %w", err)
		}
		c.CacheDir = filepath.Join(base, "lameduck-e2e")
	}
	return nil
}

// Built is what [Build] made: directories of binaries and image archives.
// It is passed as JSON to the process that runs [Up].
type Built struct {
	K8sBin string // etcd and the Kubernetes binaries
	CNIBin string // the CNI plugins
	Dir    string // the test programs (bin/) and image archives (images/)
}

// Encode returns b as JSON, for an environment variable.
func (b *Built) Encode() string {
	j, _ := json.Marshal(b)
	return string(j)
}

// DecodeBuilt is the inverse of [Built.Encode].
func DecodeBuilt(s string) (*Built, error) {
	var b Built
	if err := json.Unmarshal([]byte(s), &b); err != nil {
		return nil, fmt.Errorf("rig: built: %w", err)
	}
	return &b, nil
}

// Build installs the distribution packages that are missing and builds
// what is not cached, in the calling process's network namespace (it
// needs the module proxy). The test programs and images go to a new
// temporary directory, Built.Dir, which the caller removes.
func Build(ctx context.Context, cfg Config) (_ *Built, err error) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		return nil, errors.New("rig: needs Linux and root")
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) {
		if cfg.Logf != nil {
			cfg.Logf("rig: "+format, args...)
		}
	}
	if err := installPackages(ctx, logf); err != nil {
		return nil, err
	}
	b := &Built{}
	if b.K8sBin, err = buildK8s(ctx, logf, cfg.CacheDir, cfg.K8sVersion); err != nil {
		return nil, err
	}
	if b.CNIBin, err = buildCNI(ctx, logf, cfg.CacheDir); err != nil {
		return nil, err
	}
	if b.Dir, err = os.MkdirTemp("", "lameduck-e2e-build-"); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	if err := buildImages(ctx, logf, cfg, b.Dir); err != nil {
		return nil, errors.Join(err, os.RemoveAll(b.Dir))
	}
	return b, nil
}

// Rig is a running cluster. Create it with [Up]; end it with [Rig.Down].
type Rig struct {
	// Dir is the temporary directory everything lives in.
	Dir string
	// Bin holds the test programs (timing, pause, the examples).
	Bin string
	// API is a client of the API server, with the admin's token.
	API *kube.Client
	// Nodes are the nodes, in order.
	Nodes []*Node
	// Node, KubeletLog and PodLogsDir are the first node's name, kubelet
	// log and podLogsDir, for tests about one kubelet.
	Node, KubeletLog, PodLogsDir string
	// Lab is the network the cluster lives in.
	Lab *netlab.Lab

	cfg      Config
	built    *Built
	procs    []*proc
	ports    []int
	sysctls  map[string]string
	absent   []string // host paths the kubelet or containerd may create that did not exist before
	watchdog *watchdog
	server   string // the API server's URL
	pki      *pki
}

// hostPaths are paths outside the rig's directory that kubelet and
// containerd 1.6 create whatever their configuration says.
var hostPaths = []string{
	"/var/lib/kubelet", "/var/log/pods", "/var/log/containers", "/run/containerd",
	"/usr/libexec/kubernetes", "/etc/kubernetes", "/var/lib/cni",
}

func (r *Rig) logf(format string, args ...any) {
	if r.cfg.Logf != nil {
		r.cfg.Logf("rig: "+format, args...)
	}
}

// Up brings up the lab network, the control plane and the nodes from what
// [Build] made, and returns once every node is registered and Ready and
// pods can be created. It must run in a fresh network namespace (see
// package netlab). On error it tears down what it started and returns the
// error.
func Up(ctx context.Context, cfg Config, built *Built) (_ *Rig, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := &Rig{cfg: cfg, built: built, Bin: filepath.Join(built.Dir, "bin")}
	for i := 1; i <= cfg.Nodes; i++ {
		if _, err := os.Stat(cgroupPath("cpu", i)); err == nil {
			return nil, fmt.Errorf("rig: %s exists: another rig runs here, or one was killed before its teardown (remove those cgroups once nothing runs in them)", cgroupPath("cpu", i))
		}
	}
	if r.sysctls, err = readSysctls(); err != nil {
		return nil, err
	}
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			r.absent = append(r.absent, p)
		}
	}
	if r.Dir, err = os.MkdirTemp("", "lameduck-e2e-"); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.Down())
		}
	}()
	r.logf("directory %s", r.Dir)
	for _, d := range []string{"run", "logs", "etc", "data"} {
		if err := os.MkdirAll(filepath.Join(r.Dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("rig: %w", err)
		}
	}
	if err := r.startWatchdog(); err != nil {
		return nil, err
	}
	if r.Lab, err = netlab.New(ctx, cfg.Nodes, r.logf); err != nil {
		return nil, err
	}
	for _, n := range r.Lab.Nodes {
		_ = os.WriteFile(filepath.Join(r.Dir, "run", "netns-"+n.Name+".pid"), []byte(strings.TrimSuffix(strings.TrimPrefix(n.NetNS, "/proc/"), "/ns/net")), 0o644)
	}
	if err := r.startControlPlane(ctx); err != nil {
		return nil, err
	}
	for i, ln := range r.Lab.Nodes {
		n, err := r.startNode(ctx, i+1, ln)
		if err != nil {
			return nil, err
		}
		r.Nodes = append(r.Nodes, n)
	}
	r.Node, r.KubeletLog, r.PodLogsDir = r.Nodes[0].Name, r.Nodes[0].KubeletLog, r.Nodes[0].PodLogsDir
	for _, n := range r.Nodes {
		if err := r.waitNode(ctx, n); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// installPackages installs containerd, runc, nftables, iptables,
// iproute2, conntrack and HAProxy from the distribution when they are
// missing.
func installPackages(ctx context.Context, logf func(string, ...any)) error {
	missing := false
	for _, c := range []string{"containerd", "runc", "ctr", "nft", "iptables", "iptables-save", "ip", "nsenter", "unshare", "conntrack", "haproxy"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	logf("installing containerd, runc, nftables, iptables, iproute2, conntrack and haproxy")
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, argv := range [][]string{{"apt-get", "update", "-qq"}, {"apt-get", "install", "-y", "-qq", "containerd", "runc", "nftables", "iptables", "iproute2", "util-linux", "conntrack", "haproxy"}} {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("rig: %s: %w: %s", strings.Join(argv, " "), err, tail(string(out), 2000))
		}
	}
	return nil
}

func render(path, text string, data any) error {
	t, err := template.New(filepath.Base(path)).Parse(text)
	if err != nil {
		return fmt.Errorf("rig: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return fmt.Errorf("rig: %w", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("rig: %w", err)
	}
	return nil
}

func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("rig: %s: %s", url, resp.Status)
	}
	return nil
}

// poll calls f every 200 ms until it returns nil, and returns its last
// error once timeout has passed or ctx is done.
func poll(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}
