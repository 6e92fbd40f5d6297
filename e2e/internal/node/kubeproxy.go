package node

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/lameduck/lameduck/e2e/internal/netlab"
	"github.com/lameduck/lameduck/e2e/internal/proc"
)

// Proxy modes of kube-proxy the rig runs.
const (
	ProxyNFTables = "nftables"
	ProxyIPTables = "iptables"
)

// startKubeProxy starts kube-proxy in the given mode in the node's
// namespace. The three conntrack flags keep it from setting the machine's
// global conntrack tunables. At start it removes the rules the other modes
// left in the namespace (cmd/kube-proxy/app/server_linux.go,
// platformCleanup), so that a switch of mode leaves only the new mode's.
func (n *Node) startKubeProxy(mode string) error {
	argv := n.Net.Cmd(filepath.Join(n.cfg.Built.K8sBin, "kube-proxy"),
		"--kubeconfig="+n.cfg.Kubeconfig,
		"--proxy-mode="+mode, "--hostname-override="+n.Name,
		"--cluster-cidr="+netlab.ClusterCIDR.String(),
		"--nodeport-addresses="+netip.PrefixFrom(n.Addr, 32).String(),
		"--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0s", "--conntrack-tcp-timeout-close-wait=0s",
		"--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address="+netip.AddrPortFrom(n.Addr, 10256).String(),
		"--v=2")
	p, err := n.cfg.Procs.Start("kube-proxy-"+n.Name, filepath.Join(n.cfg.LogDir, "kube-proxy-"+n.Name+".log"), nil, argv...)
	if err != nil {
		return err
	}
	n.proxy, n.proxyMode = p, mode
	return nil
}

// ProxyMode is the mode the node's kube-proxy runs in.
func (n *Node) ProxyMode() string { return n.proxyMode }

// SetProxyMode restarts the node's kube-proxy in mode (ProxyNFTables or
// ProxyIPTables) unless it already runs in it, and waits until it answers
// its healthz and has written its rules. The new kube-proxy removes the
// old mode's rules from the node's namespace; established connections
// keep their conntrack entries. Rules go only into the node's namespace.
func (n *Node) SetProxyMode(ctx context.Context, mode string) error {
	if mode != ProxyNFTables && mode != ProxyIPTables {
		return fmt.Errorf("node: proxy mode %q: want %q or %q", mode, ProxyNFTables, ProxyIPTables)
	}
	if n.proxyMode == mode {
		return nil
	}
	if err := n.proxy.Stop(20 * time.Second); err != nil {
		return err
	}
	if err := n.startKubeProxy(mode); err != nil {
		return err
	}
	if err := n.waitKubeProxy(ctx); err != nil {
		return err
	}
	// The rules of the mode, in the node's namespace: the chain of
	// Services in iptables' nat table, or the kube-proxy table.
	check := n.Net.Cmd("nft", "list", "table", "ip", "kube-proxy")
	if mode == ProxyIPTables {
		check = n.Net.Cmd("sh", "-c", "iptables-save -t nat | grep -q -- '-A KUBE-SERVICES'")
	}
	if err := proc.Poll(ctx, 30*time.Second, func() error {
		out, err := exec.CommandContext(ctx, check[0], check[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("node: %s: no %s rules of kube-proxy: %v: %s", n.Name, mode, err, proc.Tail(string(out), 500))
		}
		return nil
	}); err != nil {
		return err
	}
	n.logf("%s: kube-proxy in %s mode", n.Name, mode)
	return nil
}

// Rules returns the node's nftables rule set and iptables rules (from
// iptables-save, when installed), for tests that show which mode wrote
// what.
func (n *Node) Rules(ctx context.Context) (nft, ipt string, err error) {
	argv := n.Net.Cmd("nft", "list", "ruleset")
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return "", "", fmt.Errorf("node: %s: nft list ruleset: %w: %s", n.Name, err, proc.Tail(string(out), 500))
	}
	nft = string(out)
	if _, err := exec.LookPath("iptables-save"); err == nil {
		argv := n.Net.Cmd("iptables-save")
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return "", "", fmt.Errorf("node: %s: iptables-save: %w: %s", n.Name, err, proc.Tail(string(out), 500))
		}
		ipt = string(out)
	}
	return nft, ipt, nil
}

// waitKubeProxy waits until the node's kube-proxy answers its healthz,
// which it does once it has synced its rules.
func (n *Node) waitKubeProxy(ctx context.Context) error {
	healthz := fmt.Sprintf("http://%s/healthz", netip.AddrPortFrom(n.Addr, 10256))
	if err := proc.Poll(ctx, 60*time.Second, func() error { return proc.HTTPOK(ctx, healthz) }); err != nil {
		return fmt.Errorf("node: %s: kube-proxy not healthy: %w", n.Name, err)
	}
	return nil
}
