// Package rig brings up a real single-node Kubernetes on this machine for
// the end-to-end tests, and tears it down again: containerd and runc from
// the distribution, and etcd, kube-apiserver, kube-controller-manager (only
// the endpoint, EndpointSlice and service account controllers) and the
// kubelet, all built from the Go module proxy and cached between runs. The
// example services and the tests' own programs run as pods from images
// built locally, with no registry.
//
// Everything lives in one temporary directory; every port is on 127.0.0.1;
// there is no kube-proxy, no CNI and no iptables rule, so every pod uses
// hostNetwork. The kubelet runs in a private mount namespace in which the
// kernel tunables it would set are shadowed, so the host keeps its own.
// [Rig.Down] ends only the processes the rig started, by PID (and the shims
// of its own containerd), and removes the mounts, cgroups and paths they
// made.
//
// It needs Linux with cgroup v1, root, and the go command. What the kubelet
// and containerd need on such a machine (the oom_score_adj clamp, the
// sysctl shield, host 127.0.0.1 in probes and hooks) is explained where the
// rig does it.
package rig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/lameduck/lameduck/e2e/internal/kube"
)

// DefaultK8sVersion is the Kubernetes release the rig builds: the one the
// containerd 1.6 of Debian bookworm was checked with.
const DefaultK8sVersion = "v1.34.4"

// nodeName is the kubelet's node name; pods set it in spec.nodeName, as
// there is no scheduler.
const nodeName = "lameduck-e2e"

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
	// CacheDir keeps the Kubernetes binaries between runs; defaults to
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

// Rig is a running node and control plane. Create it with [Up]; end it
// with [Rig.Down].
type Rig struct {
	// Dir is the temporary directory everything lives in.
	Dir string
	// Node is the node's name, for spec.nodeName.
	Node string
	// API is a client of the API server, with the admin's token.
	API *kube.Client
	// KubeletLog is the kubelet's log (klog, -v=3, UTC).
	KubeletLog string
	// PodLogsDir is the kubelet's podLogsDir.
	PodLogsDir string

	cfg      Config
	procs    []*proc
	sock     string
	bin      string
	ports    []int
	sysctls  map[string]string
	absent   []string // host paths the kubelet or containerd may create that did not exist before
	watchdog *watchdog
}

// hostPaths are paths outside the rig's directory that kubelet 1.34 and
// containerd 1.6 create whatever their configuration says.
var hostPaths = []string{
	"/var/lib/kubelet", "/var/log/pods", "/var/log/containers", "/run/containerd",
	"/usr/libexec/kubernetes", "/etc/kubernetes",
}

// kubepods is checked before bring-up: another kubelet on this machine
// would share these cgroups, and Down removes them.
var kubepods = "/sys/fs/cgroup/cpu/kubepods"

func (r *Rig) logf(format string, args ...any) {
	if r.cfg.Logf != nil {
		r.cfg.Logf("rig: "+format, args...)
	}
}

// Up builds what is missing and brings up containerd, etcd, the API server,
// the controller manager and the kubelet, and returns once the node is
// registered and pods can be created. On error it tears down what it
// started and returns the error.
func Up(ctx context.Context, cfg Config) (_ *Rig, err error) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		return nil, errors.New("rig: needs Linux and root")
	}
	if cfg.K8sVersion == "" {
		cfg.K8sVersion = DefaultK8sVersion
	}
	if cfg.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("rig: CacheDir: %w", err)
		}
		cfg.CacheDir = filepath.Join(base, "lameduck-e2e")
	}
	if _, err := os.Stat(kubepods); err == nil {
		return nil, fmt.Errorf("rig: %s exists: another kubelet runs here, or a rig was killed before its teardown (remove the kubepods cgroups once nothing runs in them)", kubepods)
	}
	r := &Rig{cfg: cfg, Node: nodeName}
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
	if err := os.MkdirAll(filepath.Join(r.Dir, "run"), 0o755); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	if err := r.startWatchdog(); err != nil {
		return nil, err
	}
	for _, d := range []string{"bin", "images", "logs", "run", "etc", "pod-logs", "kubelet", "cni/bin", "cni/net.d", "shield", "data"} {
		if err := os.MkdirAll(filepath.Join(r.Dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("rig: %w", err)
		}
	}
	r.PodLogsDir = filepath.Join(r.Dir, "pod-logs")
	r.KubeletLog = filepath.Join(r.Dir, "logs", "kubelet.log")
	r.sock = filepath.Join(r.Dir, "run", "containerd.sock")
	if err := installPackages(ctx, r.logf); err != nil {
		return nil, err
	}
	if r.bin, err = r.buildK8s(ctx, cfg.CacheDir, cfg.K8sVersion); err != nil {
		return nil, err
	}
	if err := r.buildImages(ctx); err != nil {
		return nil, err
	}
	if err := r.startContainerd(ctx); err != nil {
		return nil, err
	}
	if err := r.startControlPlane(ctx); err != nil {
		return nil, err
	}
	if err := r.startKubelet(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// installPackages installs containerd and runc from the distribution when
// they are missing.
func installPackages(ctx context.Context, logf func(string, ...any)) error {
	_, e1 := exec.LookPath("containerd")
	_, e2 := exec.LookPath("runc")
	_, e3 := exec.LookPath("ctr")
	if e1 == nil && e2 == nil && e3 == nil {
		return nil
	}
	logf("installing containerd and runc")
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, argv := range [][]string{{"apt-get", "update", "-qq"}, {"apt-get", "install", "-y", "-qq", "containerd", "runc"}} {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("rig: %s: %w: %s", strings.Join(argv, " "), err, tail(string(out), 2000))
		}
	}
	return nil
}

// buildImages builds the pause, timing and example programs and loads
// nothing yet: it writes their image archives.
func (r *Rig) buildImages(ctx context.Context) error {
	bin := filepath.Join(r.Dir, "bin")
	builds := []struct{ dir, pkg, out string }{
		{r.cfg.ModuleDir, "./internal/cmd/pause", "pause"},
		{r.cfg.ModuleDir, "./internal/cmd/timing", "timing"},
		{r.cfg.ExamplesDir, "./http", "http"},
		{r.cfg.ExamplesDir, "./grpc", "grpc"},
	}
	for _, b := range builds {
		if err := r.buildGo(ctx, b.dir, b.pkg, filepath.Join(bin, b.out)); err != nil {
			return err
		}
	}
	user := strconv.Itoa(ImageUser)
	images := []struct {
		file string
		img  image
	}{
		{"pause.tar", image{ref: PauseImage, entrypoint: []string{"/pause"}, files: map[string]string{"/pause": filepath.Join(bin, "pause")}}},
		{"timing.tar", image{ref: TimingImage, entrypoint: []string{"/timing"}, user: user, files: map[string]string{"/timing": filepath.Join(bin, "timing")}}},
		{"http.tar", image{ref: HTTPImage, entrypoint: []string{"/http"}, user: user, files: map[string]string{"/http": filepath.Join(bin, "http")}}},
		{"grpc.tar", image{ref: GRPCImage, entrypoint: []string{"/grpc"}, user: user, files: map[string]string{"/grpc": filepath.Join(bin, "grpc")}}},
	}
	for _, i := range images {
		if err := writeDockerArchive(filepath.Join(r.Dir, "images", i.file), i.img); err != nil {
			return err
		}
	}
	return nil
}

func (r *Rig) render(path, text string, data any) error {
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

// ctr runs containerd's ctr against the rig's containerd, in the CRI's
// k8s.io namespace.
func (r *Rig) ctr(ctx context.Context, args ...string) ([]byte, error) {
	argv := append([]string{"--address", r.sock, "--namespace", "k8s.io"}, args...)
	out, err := exec.CommandContext(ctx, "ctr", argv...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("rig: ctr %s: %w: %s", strings.Join(args, " "), err, tail(string(out), 1000))
	}
	return out, nil
}

func (r *Rig) startContainerd(ctx context.Context) error {
	runc, err := exec.LookPath("runc")
	if err != nil {
		return fmt.Errorf("rig: %w", err)
	}
	cfgPath := filepath.Join(r.Dir, "etc", "containerd.toml")
	data := map[string]string{"Dir": r.Dir, "Sock": r.sock, "PauseRef": PauseImage, "Runc": runc}
	if err := r.render(cfgPath, containerdConfig, data); err != nil {
		return err
	}
	if _, err := r.start("containerd", filepath.Join(r.Dir, "logs", "containerd.log"), nil, "containerd", "--config", cfgPath); err != nil {
		return err
	}
	if err := poll(ctx, 30*time.Second, func() error { _, err := r.ctr(ctx, "version"); return err }); err != nil {
		return fmt.Errorf("rig: containerd did not answer: %w", err)
	}
	for _, f := range []string{"pause.tar", "timing.tar", "http.tar", "grpc.tar"} {
		if _, err := r.ctr(ctx, "images", "import", filepath.Join(r.Dir, "images", f)); err != nil {
			return err
		}
	}
	r.logf("containerd up; images loaded")
	return nil
}

func (r *Rig) startControlPlane(ctx context.Context) error {
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	r.ports = append(r.ports, ports...)
	etcdClient, etcdPeer, apiPort, kcmPort := ports[0], ports[1], ports[2], ports[3]
	cp := filepath.Join(r.Dir, "cp")
	p, err := makePKI(filepath.Join(cp, "pki"))
	if err != nil {
		return err
	}
	logs := filepath.Join(r.Dir, "logs")
	client := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peer := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if _, err := r.start("etcd", filepath.Join(logs, "etcd.log"), nil, filepath.Join(r.bin, "etcd"),
		"--name", "e2e", "--data-dir", filepath.Join(cp, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "e2e="+peer, "--log-level", "warn"); err != nil {
		return err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	// --endpoint-reconciler-type=none: a loopback advertise address is not
	// valid in the kubernetes Service's Endpoints. The service CIDR is data
	// only: nothing routes to it.
	if _, err := r.start("kube-apiserver", filepath.Join(logs, "kube-apiserver.log"), nil, filepath.Join(r.bin, "kube-apiserver"),
		"--etcd-servers="+client, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(apiPort), "--endpoint-reconciler-type=none",
		"--tls-cert-file="+p.apiCert, "--tls-private-key-file="+p.apiKey, "--client-ca-file="+p.caCert,
		"--token-auth-file="+p.tokens, "--authorization-mode=AlwaysAllow", "--anonymous-auth=false",
		"--service-cluster-ip-range=10.96.0.0/24", "--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+p.saPub, "--service-account-signing-key-file="+p.saKey,
		"--enable-priority-and-fairness=false", "--profiling=false", "--allow-privileged=true",
		"--cert-dir="+filepath.Join(cp, "apiserver-certs"), "--v=1"); err != nil {
		return err
	}
	if r.API, err = kube.New(server, p.caPEM, p.adminToken); err != nil {
		return err
	}
	if err := poll(ctx, 120*time.Second, func() error { return r.API.Do(ctx, http.MethodGet, "/readyz", nil, nil) }); err != nil {
		return fmt.Errorf("rig: kube-apiserver not ready (see %s): %w", filepath.Join(logs, "kube-apiserver.log"), err)
	}
	r.logf("kube-apiserver ready at %s", server)
	kcmConfig := filepath.Join(cp, "kcm.kubeconfig")
	if err := p.kubeconfig(kcmConfig, server, "kcm", p.kcmToken); err != nil {
		return err
	}
	if _, err := r.start("kube-controller-manager", filepath.Join(logs, "kube-controller-manager.log"), nil, filepath.Join(r.bin, "kube-controller-manager"),
		"--kubeconfig="+kcmConfig, "--leader-elect=false",
		"--controllers=endpointslice-controller,endpoints-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller",
		"--service-account-private-key-file="+p.saKey, "--root-ca-file="+p.caCert, "--use-service-account-credentials=false",
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(kcmPort), "--cert-dir="+filepath.Join(cp, "kcm-certs"), "--v=1"); err != nil {
		return err
	}
	return p.kubeconfig(filepath.Join(cp, "kubelet.kubeconfig"), server, "kubelet", p.kubeletToken)
}

func (r *Rig) startKubelet(ctx context.Context) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	r.ports = append(r.ports, ports...)
	cfgPath := filepath.Join(r.Dir, "etc", "kubelet.yaml")
	data := map[string]any{"Dir": r.Dir, "Sock": r.sock, "KubeletPort": ports[0], "HealthzPort": ports[1]}
	if err := r.render(cfgPath, kubeletConfig, data); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "etc", "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		return fmt.Errorf("rig: %w", err)
	}
	// The kubelet's private mount namespace must not hide the volumes it
	// mounts (projected service account tokens, tmpfs emptyDirs) from
	// containerd: its root directory is made a shared mount, so mounts
	// under it propagate back to the host's namespace.
	root := filepath.Join(r.Dir, "kubelet")
	if err := syscall.Mount(root, root, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("rig: bind-mount %s: %w", root, err)
	}
	if err := syscall.Mount("", root, "", syscall.MS_SHARED|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("rig: make %s shared: %w", root, err)
	}
	// The sysctl shield: in the kubelet's own mount namespace, files with
	// the values it wants are bind-mounted over the /proc/sys files it
	// would write, so the host's tunables are never changed
	// (protectKernelDefaults would make it refuse to start instead). /proc
	// is made private first so that these mounts cannot propagate out.
	var script strings.Builder
	script.WriteString("set -e; mount --make-rprivate /proc; ")
	for _, name := range shieldedSysctls {
		f := filepath.Join(r.Dir, "shield", strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(f, []byte(shieldValues[name]+"\n"), 0o644); err != nil {
			return fmt.Errorf("rig: %w", err)
		}
		fmt.Fprintf(&script, "mount --bind %s /proc/sys/%s; ", f, name)
	}
	fmt.Fprintf(&script, "exec %s --config=%s --root-dir=%s --cert-dir=%s --hostname-override=%s --kubeconfig=%s --v=3",
		filepath.Join(r.bin, "kubelet"), cfgPath, root, filepath.Join(root, "pki"), nodeName, filepath.Join(r.Dir, "cp", "kubelet.kubeconfig"))
	if _, err := r.start("kubelet", r.KubeletLog, []string{"TZ=UTC"}, "unshare", "-m", "--propagation", "unchanged", "sh", "-c", script.String()); err != nil {
		return err
	}
	healthz := fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[1])
	if err := poll(ctx, 60*time.Second, func() error { return httpOK(ctx, healthz) }); err != nil {
		return fmt.Errorf("rig: kubelet not healthy (see %s): %w", r.KubeletLog, err)
	}
	var obj struct{}
	if err := poll(ctx, 60*time.Second, func() error { return r.API.Get(ctx, "/api/v1/nodes/"+nodeName, &obj) }); err != nil {
		return fmt.Errorf("rig: node not registered: %w", err)
	}
	// Pods use the default service account: the serviceaccount controller
	// creates it.
	if err := poll(ctx, 60*time.Second, func() error {
		return r.API.Get(ctx, "/api/v1/namespaces/default/serviceaccounts/default", &obj)
	}); err != nil {
		return fmt.Errorf("rig: no default service account: %w", err)
	}
	r.logf("kubelet up; node %s registered", nodeName)
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
