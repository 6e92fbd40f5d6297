package node

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// containerdConfig is containerd 1.6's configuration with everything under
// the node's directory, the pods' network namespaces included
// (netns_mounts_under_state_dir), and the CNI plugins from the cache. restrict_oom_score_adj: without CAP_SYS_RESOURCE
// runc cannot lower oom_score_adj to the sandbox's -998 ("nsexec: failed to
// update /proc/self/oom_score_adj: Permission denied"), so it is clamped to
// containerd's own value.
const containerdConfig = `version = 2
root = "{{.Dir}}/containerd/root"
state = "{{.Dir}}/containerd/state"
oom_score = 0

[grpc]
  address = "{{.Sock}}"

[ttrpc]
  address = "{{.Sock}}.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{{.PauseRef}}"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    disable_apparmor = true
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      discard_unpacked_layers = false
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          BinaryName = "{{.Runc}}"
          Root = "{{.Dir}}/run/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "{{.CNIBin}}"
      conf_dir = "{{.Dir}}/cni/net.d"
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = ""
  [plugins."io.containerd.internal.v1.opt"]
    path = "{{.Dir}}/containerd/opt"
`

// kubeletConfig is a node's KubeletConfiguration: cgroup v1 with the
// cgroupfs driver under a cgroup root of the node's own, its server on the
// node's loopback and its healthz on the node's address (for the lab to
// check), no iptables chains, and eviction and image garbage collection
// thresholds that a busy shared disk does not trip.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://{{.Sock}}
imageServiceEndpoint: unix://{{.Sock}}
cgroupDriver: cgroupfs
cgroupRoot: {{.CgroupRoot}}
failCgroupV1: false
failSwapOn: false
syncFrequency: 10s
podLogsDir: {{.Dir}}/pod-logs
resolvConf: {{.Dir}}/resolv.conf
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: {{.Addr}}
healthzPort: 10248
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
makeIPTablesUtilChains: false
protectKernelDefaults: false
evictionHard:
  memory.available: "50Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
volumePluginDir: {{.Dir}}/kubelet/volume-plugins
`

// cniConfig is a node's pod network: a bridge with the node's pod range,
// its gateway the node itself, no masquerading (kube-proxy does what is
// needed), and the IP allocations kept in the node's directory.
const cniConfig = `{"cniVersion":"1.0.0","name":"lameduck","plugins":[
 {"type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":false,"hairpinMode":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"{{.PodCIDR}}"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"{{.Dir}}/cni/ipam"}},
 {"type":"portmap","capabilities":{"portMappings":true}}]}
`

// ReadSysctls reads the kernel tunables the kubelet would set, so that the
// rig can show they are untouched.
func ReadSysctls() (map[string]string, error) {
	m := map[string]string{}
	for _, name := range shieldedSysctls {
		b, err := os.ReadFile("/proc/sys/" + name)
		if err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		m[name] = strings.TrimSpace(string(b))
	}
	return m, nil
}

// shieldedSysctls are the tunables the kubelet sets at start-up
// (pkg/kubelet/cm/container_manager_linux.go, setupKernelTunables), with the
// values it wants. The rig bind-mounts files holding these values over them
// in the kubelet's private mount namespace, so the host keeps its own.
var shieldedSysctls = []string{"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"}

var shieldValues = map[string]string{"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}

// render writes the template text, executed with data, to path.
func render(path, text string, data any) error {
	t, err := template.New(filepath.Base(path)).Parse(text)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}
