package rig

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

// startControlPlane starts etcd, kube-apiserver (on the lab's address,
// where the nodes reach it), kube-controller-manager and kube-scheduler,
// all in the lab's namespace.
func (r *Rig) startControlPlane(ctx context.Context) error {
	r.ports = append(r.ports, etcdClientPort, etcdPeerPort, apiPort, kcmPort, schedulerPort)
	cp := filepath.Join(r.Dir, "cp")
	p, err := makePKI(filepath.Join(cp, "pki"))
	if err != nil {
		return err
	}
	r.pki = p
	logs := filepath.Join(r.Dir, "logs")
	bin := r.built.K8sBin
	client := fmt.Sprintf("http://127.0.0.1:%d", etcdClientPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", etcdPeerPort)
	if _, err := r.start("etcd", filepath.Join(logs, "etcd.log"), nil, filepath.Join(bin, "etcd"),
		"--name", "e2e", "--data-dir", filepath.Join(cp, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "e2e="+peer, "--log-level", "warn"); err != nil {
		return err
	}
	addr := netlab.Gateway.String()
	r.server = "https://" + netip.AddrPortFrom(netlab.Gateway, apiPort).String()
	if _, err := r.start("kube-apiserver", filepath.Join(logs, "kube-apiserver.log"), nil, filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers="+client, "--bind-address="+addr, "--advertise-address="+addr,
		"--secure-port="+strconv.Itoa(apiPort),
		"--tls-cert-file="+p.apiCert, "--tls-private-key-file="+p.apiKey, "--client-ca-file="+p.caCert,
		"--token-auth-file="+p.tokens, "--authorization-mode=AlwaysAllow", "--anonymous-auth=false",
		"--service-cluster-ip-range="+netlab.ServiceCIDR.String(), "--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+p.saPub, "--service-account-signing-key-file="+p.saKey,
		"--enable-priority-and-fairness=false", "--profiling=false", "--allow-privileged=true",
		"--cert-dir="+filepath.Join(cp, "apiserver-certs"), "--v=1"); err != nil {
		return err
	}
	if r.API, err = kube.New(r.server, p.caPEM, p.adminToken); err != nil {
		return err
	}
	if err := poll(ctx, 120*time.Second, func() error { return r.API.Do(ctx, http.MethodGet, "/readyz", nil, nil) }); err != nil {
		return fmt.Errorf("rig: kube-apiserver not ready (see %s): %w", filepath.Join(logs, "kube-apiserver.log"), err)
	}
	r.logf("kube-apiserver ready at %s", r.server)
	kcmConfig := filepath.Join(cp, "kcm.kubeconfig")
	if err := p.kubeconfig(kcmConfig, r.server, "kcm", p.kcmToken); err != nil {
		return err
	}
	if _, err := r.start("kube-controller-manager", filepath.Join(logs, "kube-controller-manager.log"), nil, filepath.Join(bin, "kube-controller-manager"),
		"--kubeconfig="+kcmConfig, "--leader-elect=false", "--controllers="+strings.Join(controllers, ","),
		"--service-account-private-key-file="+p.saKey, "--root-ca-file="+p.caCert, "--use-service-account-credentials=false",
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(kcmPort), "--cert-dir="+filepath.Join(cp, "kcm-certs"), "--v=1"); err != nil {
		return err
	}
	if _, err := r.start("kube-scheduler", filepath.Join(logs, "kube-scheduler.log"), nil, filepath.Join(bin, "kube-scheduler"),
		"--kubeconfig="+kcmConfig, "--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(schedulerPort), "--cert-dir="+filepath.Join(cp, "scheduler-certs"), "--v=1"); err != nil {
		return err
	}
	return p.kubeconfig(filepath.Join(cp, "node.kubeconfig"), r.server, "node", p.kubeletToken)
}
