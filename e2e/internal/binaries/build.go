package binaries

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lameduck/lameduck/e2e/internal/proc"
)

// k8sCommands are the binaries built from the module proxy. etcd is built
// at the version k8s.io/kubernetes requires.
var k8sCommands = []string{"kubelet", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "etcd"}

// CNIVersion is the release of github.com/containernetworking/plugins the
// pod network is built from.
const CNIVersion = "v1.10.0"

// cniPlugins are the CNI plugins the pod network uses, by package.
var cniPlugins = []string{
	"github.com/containernetworking/plugins/plugins/main/bridge",
	"github.com/containernetworking/plugins/plugins/ipam/host-local",
	"github.com/containernetworking/plugins/plugins/main/loopback",
	"github.com/containernetworking/plugins/plugins/meta/portmap",
}

func k8sPackage(cmd string) string {
	if cmd == "etcd" {
		return "go.etcd.io/etcd/server/v3"
	}
	return "k8s.io/kubernetes/cmd/" + cmd
}

// buildK8s builds the Kubernetes binaries of version v into
// cache/k8s-v/bin unless they are there already, and returns that
// directory. k8s.io/kubernetes replaces its staging modules (k8s.io/api,
// ...) with ./staging paths that are not in its module zip, and the
// replace directives of a dependency are ignored, so a wrapper module
// requires k8s.io/kubernetes and replaces each staging module with its
// published v0.Y.Z release. Staging modules that are not published
// (k8s.io/sample-controller, ...) are not needed and are dropped.
func buildK8s(ctx context.Context, logf func(string, ...any), cache, v string) (string, error) {
	dir := filepath.Join(cache, "k8s-"+v)
	bin := filepath.Join(dir, "bin")
	missing := false
	for _, c := range k8sCommands {
		if _, err := os.Stat(filepath.Join(bin, c)); err != nil {
			missing = true
		}
	}
	if !missing {
		logf("kubernetes %s binaries cached in %s", v, bin)
		return bin, nil
	}
	start := time.Now()
	logf("building kubernetes %s binaries into %s (about 10-30 min cold; cached afterwards)", v, bin)
	wrap := filepath.Join(dir, "wrap")
	if err := os.MkdirAll(wrap, 0o755); err != nil {
		return "", fmt.Errorf("binaries: %w", err)
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", fmt.Errorf("binaries: %w", err)
	}
	if err := writeWrapper(ctx, logf, wrap, v); err != nil {
		return "", err
	}
	minor := strings.SplitN(strings.TrimPrefix(v, "v1."), ".", 2)[0]
	ldflags := "-s -w -X k8s.io/component-base/version.gitVersion=" + v +
		" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=" + minor +
		" -X k8s.io/client-go/pkg/version.gitVersion=" + v
	for _, c := range k8sCommands {
		if _, err := os.Stat(filepath.Join(bin, c)); err == nil {
			continue
		}
		t := time.Now()
		tmp := filepath.Join(bin, c+".tmp")
		if _, err := goCmd(ctx, wrap, nil, "build", "-trimpath", "-ldflags", ldflags, "-o", tmp, k8sPackage(c)); err != nil {
			return "", err
		}
		if err := os.Rename(tmp, filepath.Join(bin, c)); err != nil {
			return "", fmt.Errorf("binaries: %w", err)
		}
		logf("built %s %s in %v", c, v, time.Since(t).Round(time.Second))
	}
	logf("kubernetes binaries built in %v", time.Since(start).Round(time.Second))
	return bin, nil
}

// buildCNI installs the CNI plugins of [CNIVersion] into
// cache/cni-CNIVersion/bin unless they are there already, and returns that
// directory.
func buildCNI(ctx context.Context, logf func(string, ...any), cache string) (string, error) {
	bin := filepath.Join(cache, "cni-"+CNIVersion, "bin")
	missing := false
	for _, p := range cniPlugins {
		if _, err := os.Stat(filepath.Join(bin, filepath.Base(p))); err != nil {
			missing = true
		}
	}
	if !missing {
		return bin, nil
	}
	t := time.Now()
	args := []string{"install", "-trimpath"}
	for _, p := range cniPlugins {
		args = append(args, p+"@"+CNIVersion)
	}
	if _, err := goCmd(ctx, cache, []string{"CGO_ENABLED=0", "GOBIN=" + bin}, args...); err != nil {
		return "", err
	}
	logf("built the CNI plugins %s in %v", CNIVersion, time.Since(t).Round(time.Second))
	return bin, nil
}

func writeWrapper(ctx context.Context, logf func(string, ...any), wrap, v string) error {
	out, err := goCmd(ctx, wrap, nil, "mod", "download", "-json", "k8s.io/kubernetes@"+v)
	if err != nil {
		return err
	}
	var info struct{ GoMod string }
	if err := json.Unmarshal(out, &info); err != nil {
		return fmt.Errorf("binaries: go mod download: %w", err)
	}
	modText, err := os.ReadFile(info.GoMod)
	if err != nil {
		return fmt.Errorf("binaries: %w", err)
	}
	goVersion, godebug, staging := parseKubernetesMod(string(modText))
	stagingV := "v0." + strings.TrimPrefix(v, "v1.")
	var b strings.Builder
	// The godebug line sets defaults the binaries are tested with upstream.
	fmt.Fprintf(&b, "module local/k8swrap\n\ngo %s\n\n%s\nrequire k8s.io/kubernetes %s\n\nreplace (\n", goVersion, godebug, v)
	for _, m := range staging {
		if _, err := goCmd(ctx, wrap, nil, "mod", "download", m+"@"+stagingV); err != nil {
			logf("%s@%s is not on the module proxy; not replaced", m, stagingV)
			continue
		}
		fmt.Fprintf(&b, "\t%s => %s %s\n", m, m, stagingV)
	}
	b.WriteString(")\n")
	if err := os.WriteFile(filepath.Join(wrap, "go.mod"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("binaries: %w", err)
	}
	var tools strings.Builder
	tools.WriteString("//go:build tools\n\npackage tools\n\nimport (\n")
	for _, c := range k8sCommands {
		fmt.Fprintf(&tools, "\t_ %q\n", k8sPackage(c))
	}
	tools.WriteString(")\n")
	if err := os.WriteFile(filepath.Join(wrap, "tools.go"), []byte(tools.String()), 0o644); err != nil {
		return fmt.Errorf("binaries: %w", err)
	}
	_, err = goCmd(ctx, wrap, nil, "mod", "tidy", "-e")
	return err
}

// parseKubernetesMod returns the go version of k8s.io/kubernetes' go.mod,
// its godebug lines and the modules it replaces with ./staging paths.
func parseKubernetesMod(mod string) (goVersion, godebug string, staging []string) {
	sc := bufio.NewScanner(strings.NewReader(mod))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) > 0 && f[0] == "godebug":
			godebug += sc.Text() + "\n"
		case len(f) == 2 && f[0] == "go":
			goVersion = f[1]
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "./staging/"):
			staging = append(staging, f[0])
		}
	}
	return goVersion, godebug, staging
}

// buildGo builds the main package pkg of the module in dir as a static
// binary at out.
func buildGo(ctx context.Context, logf func(string, ...any), dir, pkg, out string) error {
	t := time.Now()
	if _, err := goCmd(ctx, dir, []string{"CGO_ENABLED=0"}, "build", "-trimpath", "-o", out, pkg); err != nil {
		return err
	}
	logf("built %s in %v", pkg, time.Since(t).Round(time.Millisecond))
	return nil
}

// goCmd runs the go command in dir at the lowest CPU priority, so that a
// cold build does not starve a shared machine, and returns its stdout.
func goCmd(ctx context.Context, dir string, env []string, args ...string) ([]byte, error) {
	argv := append([]string{"-n", "19", "go"}, args...)
	cmd := exec.CommandContext(ctx, "nice", argv...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local", "GOWORK=off")
	cmd.Env = append(cmd.Env, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("binaries: go %s in %s: %w: %s", strings.Join(args, " "), dir, err, proc.Tail(stderr.String(), 2000))
	}
	return out, nil
}

// Images are the archives, under Built.Images, of the images every node's
// containerd loads.
var Images = []string{"pause.tar", "timing.tar", "http.tar", "grpc.tar"}

// buildImages builds the pause, timing and example programs into dir/bin
// and writes their image archives into dir/images.
func buildImages(ctx context.Context, logf func(string, ...any), cfg Config, dir string) error {
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{bin, filepath.Join(dir, "images")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("binaries: %w", err)
		}
	}
	builds := []struct{ dir, pkg, out string }{
		{cfg.ModuleDir, "./internal/cmd/pause", "pause"},
		{cfg.ModuleDir, "./internal/cmd/timing", "timing"},
		{cfg.ExamplesDir, "./http", "http"},
		{cfg.ExamplesDir, "./grpc", "grpc"},
	}
	for _, b := range builds {
		if err := buildGo(ctx, logf, b.dir, b.pkg, filepath.Join(bin, b.out)); err != nil {
			return err
		}
	}
	user := strconv.Itoa(ImageUser)
	imgs := []struct {
		file string
		img  image
	}{
		{"pause.tar", image{ref: PauseImage, entrypoint: []string{"/pause"}, files: map[string]string{"/pause": filepath.Join(bin, "pause")}}},
		{"timing.tar", image{ref: TimingImage, entrypoint: []string{"/timing"}, user: user, files: map[string]string{"/timing": filepath.Join(bin, "timing")}}},
		{"http.tar", image{ref: HTTPImage, entrypoint: []string{"/http"}, user: user, files: map[string]string{"/http": filepath.Join(bin, "http")}}},
		{"grpc.tar", image{ref: GRPCImage, entrypoint: []string{"/grpc"}, user: user, files: map[string]string{"/grpc": filepath.Join(bin, "grpc")}}},
	}
	for _, i := range imgs {
		if err := writeDockerArchive(filepath.Join(dir, "images", i.file), i.img); err != nil {
			return err
		}
	}
	return nil
}
