// Package binaries makes everything the rig runs, in the machine's own
// network namespace, before the tests enter the lab's (it needs the Go
// module proxy and the distribution's packages): it installs containerd,
// runc, nftables, iptables, iproute2, conntrack and HAProxy when they are
// missing; builds etcd, the Kubernetes binaries (kubelet, kube-apiserver,
// kube-controller-manager, kube-scheduler, kube-proxy) and the CNI
// plugins, caching them between runs in [Config.CacheDir]; and builds the
// example services and the tests' own programs, with image archives the
// nodes' containerds import.
package binaries

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/lameduck/lameduck/e2e/internal/proc"
)

// DefaultK8sVersion is the Kubernetes release built.
const DefaultK8sVersion = "v1.37.2"

// Image references of the images built.
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

// Config says what to build and where to keep it.
type Config struct {
	// K8sVersion defaults to [DefaultK8sVersion].
	K8sVersion string
	// CacheDir keeps the binaries between runs; defaults to
	// $XDG_CACHE_HOME/lameduck-e2e (or ~/.cache/lameduck-e2e).
	CacheDir string
	// ModuleDir is the e2e module's directory (its programs are built from
	// it) and ExamplesDir the examples module's.
	ModuleDir, ExamplesDir string
	// Logf reports progress; nil discards it.
	Logf func(format string, args ...any)
}

func (c *Config) defaults() error {
	if c.K8sVersion == "" {
		c.K8sVersion = DefaultK8sVersion
	}
	if c.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("binaries: CacheDir: %w", err)
		}
		c.CacheDir = filepath.Join(base, "lameduck-e2e")
	}
	return nil
}

// Built is what [Build] made: directories of binaries and image archives.
// It is passed as JSON to the process that brings the rig up.
type Built struct {
	K8sBin string // etcd and the Kubernetes binaries
	CNIBin string // the CNI plugins
	Dir    string // the test programs (bin/) and image archives (images/)
}

// Bin is the directory of the test programs and the examples.
func (b *Built) Bin() string { return filepath.Join(b.Dir, "bin") }

// ImagesDir is the directory of the image archives, [Images].
func (b *Built) ImagesDir() string { return filepath.Join(b.Dir, "images") }

// Encode returns b as JSON, for an environment variable.
func (b *Built) Encode() string {
	j, _ := json.Marshal(b)
	return string(j)
}

// DecodeBuilt is the inverse of [Built.Encode].
func DecodeBuilt(s string) (*Built, error) {
	var b Built
	if err := json.Unmarshal([]byte(s), &b); err != nil {
		return nil, fmt.Errorf("binaries: built: %w", err)
	}
	return &b, nil
}

// Build installs the distribution packages that are missing and builds
// what is not cached, in the calling process's network namespace (it
// needs the module proxy). The test programs and images go to a new
// temporary directory, Built.Dir, which the caller removes.
func Build(ctx context.Context, cfg Config) (_ *Built, err error) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		return nil, errors.New("binaries: needs Linux and root")
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) {
		if cfg.Logf != nil {
			cfg.Logf("binaries: "+format, args...)
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
		return nil, fmt.Errorf("binaries: %w", err)
	}
	if err := buildImages(ctx, logf, cfg, b.Dir); err != nil {
		return nil, errors.Join(err, os.RemoveAll(b.Dir))
	}
	return b, nil
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
			return fmt.Errorf("binaries: %s: %w: %s", strings.Join(argv, " "), err, proc.Tail(string(out), 2000))
		}
	}
	return nil
}
