// Package controlplane runs the cluster's control plane in the lab's
// network namespace: etcd, kube-apiserver on the lab's address (where the
// nodes reach it), kube-controller-manager with the controllers a
// Deployment, a StatefulSet, a node drain and EndpointSlices need, and
// kube-scheduler, with key material made fresh for each run.
package controlplane

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lameduck/lameduck/e2e/internal/kube"
	"github.com/lameduck/lameduck/e2e/internal/netlab"
	"github.com/lameduck/lameduck/e2e/internal/proc"
)

// Ports of the control plane, in the lab's namespace (its own, so fixed
// ports cannot collide with the machine's).
const (
	etcdClientPort = 2379
	etcdPeerPort   = 2380
	apiPort        = 6443
	kcmPort        = 10257
	schedulerPort  = 10259
)

// controllers are the controller manager's controllers: those a
// Deployment, a StatefulSet, a PodDisruptionBudget, EndpointSlices and
// nodes' taints need, and the service accounts pods mount.
var controllers = []string{
	"deployment-controller", "replicaset-controller", "statefulset-controller", "disruption-controller",
	"endpointslice-controller", "endpoints-controller", "garbage-collector-controller",
	"node-lifecycle-controller", "serviceaccount-controller", "serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	// API is a client of the API server, with the admin's token.
	API *kube.Client
	// Server is the API server's URL.
	Server string
	// NodeKubeconfig is the kubeconfig of the kubelets and kube-proxies.
	NodeKubeconfig string
	// Ports are the ports its components listen on in the lab's namespace.
	Ports []int
}

// Start starts etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler from the binaries in bin, in the calling process's
// network namespace (the lab's), with their data and key material under
// dir and their logs in logDir, and returns once the API server is ready.
// The processes join procs, which stops them.
func Start(ctx context.Context, procs *proc.Group, dir, logDir, bin string, logf func(string, ...any)) (*ControlPlane, error) {
	c := &ControlPlane{Ports: []int{etcdClientPort, etcdPeerPort, apiPort, kcmPort, schedulerPort}}
	cp, logs := dir, logDir
	p, err := makePKI(filepath.Join(cp, "pki"))
	if err != nil {
		return nil, err
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", etcdClientPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", etcdPeerPort)
	if _, err := procs.Start("etcd", filepath.Join(logs, "etcd.log"), nil, filepath.Join(bin, "etcd"),
		"--name", "e2e", "--data-dir", filepath.Join(cp, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "e2e="+peer, "--log-level", "warn"); err != nil {
		return nil, err
	}
	addr := netlab.Gateway.String()
	c.Server = "https://" + netip.AddrPortFrom(netlab.Gateway, apiPort).String()
	if _, err := procs.Start("kube-apiserver", filepath.Join(logs, "kube-apiserver.log"), nil, filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers="+client, "--bind-address="+addr, "--advertise-address="+addr,
		"--secure-port="+strconv.Itoa(apiPort),
		"--tls-cert-file="+p.apiCert, "--tls-private-key-file="+p.apiKey, "--client-ca-file="+p.caCert,
		"--token-auth-file="+p.tokens, "--authorization-mode=AlwaysAllow", "--anonymous-auth=false",
		"--service-cluster-ip-range="+netlab.ServiceCIDR.String(), "--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+p.saPub, "--service-account-signing-key-file="+p.saKey,
		"--enable-priority-and-fairness=false", "--profiling=false", "--allow-privileged=true",
		"--cert-dir="+filepath.Join(cp, "apiserver-certs"), "--v=1"); err != nil {
		return nil, err
	}
	if c.API, err = kube.New(c.Server, p.caPEM, p.adminToken); err != nil {
		return nil, err
	}
	if err := proc.Poll(ctx, 120*time.Second, func() error { return c.API.Do(ctx, http.MethodGet, "/readyz", nil, nil) }); err != nil {
		return nil, fmt.Errorf("controlplane: kube-apiserver not ready (see %s): %w", filepath.Join(logs, "kube-apiserver.log"), err)
	}
	if logf != nil {
		logf("kube-apiserver ready at %s", c.Server)
	}
	kcmConfig := filepath.Join(cp, "kcm.kubeconfig")
	if err := p.kubeconfig(kcmConfig, c.Server, "kcm", p.kcmToken); err != nil {
		return nil, err
	}
	if _, err := procs.Start("kube-controller-manager", filepath.Join(logs, "kube-controller-manager.log"), nil, filepath.Join(bin, "kube-controller-manager"),
		"--kubeconfig="+kcmConfig, "--leader-elect=false", "--controllers="+strings.Join(controllers, ","),
		"--service-account-private-key-file="+p.saKey, "--root-ca-file="+p.caCert, "--use-service-account-credentials=false",
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(kcmPort), "--cert-dir="+filepath.Join(cp, "kcm-certs"), "--v=1"); err != nil {
		return nil, err
	}
	if _, err := procs.Start("kube-scheduler", filepath.Join(logs, "kube-scheduler.log"), nil, filepath.Join(bin, "kube-scheduler"),
		"--kubeconfig="+kcmConfig, "--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(schedulerPort), "--cert-dir="+filepath.Join(cp, "scheduler-certs"), "--v=1"); err != nil {
		return nil, err
	}
	c.NodeKubeconfig = filepath.Join(cp, "node.kubeconfig")
	if err := p.kubeconfig(c.NodeKubeconfig, c.Server, "node", p.kubeletToken); err != nil {
		return nil, err
	}
	return c, nil
}
