// Package netlab builds the cluster's private network: a lab network
// namespace holding a bridge, and one network namespace per node joined to
// it by a veth pair. Every address of the cluster lives in these
// namespaces; nothing is routed to or from the machine's own interfaces,
// and the machine's own rule sets are never touched.
//
// The lab namespace is the one the calling process runs in, which must be
// a fresh one (the e2e tests re-run themselves under "unshare --net" once
// the binaries are built): [New] refuses to run in a namespace that has
// any interface but loopback, such as the machine's own. Each node's namespace is held by a process of its own
// ("unshare --net sleep infinity"), so that it is named by that PID and
// disappears with the last process in it: [Lab.Close] kills the holders,
// after the caller has stopped everything it started inside.
//
// Addresses: the lab bridge is [Gateway] on [LabNet]; node i (from 1) is
// 10.200.0.(10+i) with the pod range 10.244.i.0/24, routed to it by the
// other nodes and the lab.
package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Fixed addresses of the lab.
var (
	// LabNet is the network that joins the lab and the nodes.
	LabNet = netip.MustParsePrefix("10.200.0.0/24")
	// Gateway is the lab's address on the bridge: the API server and the
	// test's own listeners (load balancer, recorders) use it.
	Gateway = netip.MustParseAddr("10.200.0.1")
	// ClusterCIDR holds every node's pod range.
	ClusterCIDR = netip.MustParsePrefix("10.244.0.0/16")
	// ServiceCIDR is the range of ClusterIPs.
	ServiceCIDR = netip.MustParsePrefix("10.96.0.0/24")
)

const bridge = "lab0"

// Node is one node's network namespace.
type Node struct {
	// Name is the node's name, also used for its veth in the lab.
	Name string
	// Addr is the node's address on the lab network, its InternalIP.
	Addr netip.Addr
	// PodCIDR is the range its CNI bridge gives pods.
	PodCIDR netip.Prefix
	// NetNS is the path of its namespace, /proc/PID/ns/net of its holder.
	NetNS string

	holder *exec.Cmd
	done   chan struct{}
	fd     int // open on NetNS, for Dial
	home   int // open on the lab namespace
}

// Lab is the lab namespace and its nodes. Create it with [New]; end it
// with [Lab.Close].
type Lab struct {
	Nodes []*Node
	home  *os.File
	logf  func(string, ...any)
}

// InFreshNetNS reports whether the calling process runs in a network
// namespace that holds nothing but a loopback interface, as one just made
// by "unshare --net" does. The machine's own namespace always has more.
func InFreshNetNS() (bool, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return false, fmt.Errorf("netlab: %w", err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			return false, nil
		}
	}
	return true, nil
}

// New sets up the lab bridge in the calling process's namespace and n node
// namespaces joined to it. On error it removes what it made.
func New(ctx context.Context, n int, logf func(string, ...any)) (_ *Lab, err error) {
	fresh, err := InFreshNetNS()
	if err != nil {
		return nil, err
	}
	if !fresh {
		return nil, errors.New("netlab: the calling process's network namespace has interfaces other than loopback (the machine's own?); run it under unshare --net")
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	home, err := os.Open("/proc/self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	l := &Lab{home: home, logf: logf}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Close())
		}
	}()
	gw := netip.PrefixFrom(Gateway, LabNet.Bits()).String()
	for _, argv := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", bridge, "type", "bridge"},
		{"ip", "addr", "add", gw, "dev", bridge},
		{"ip", "link", "set", bridge, "up"},
	} {
		if err := run(ctx, argv...); err != nil {
			return nil, err
		}
	}
	for i := 1; i <= n; i++ {
		node, err := l.addNode(ctx, i)
		if err != nil {
			return nil, err
		}
		l.Nodes = append(l.Nodes, node)
	}
	for _, a := range l.Nodes {
		if err := run(ctx, "ip", "route", "add", a.PodCIDR.String(), "via", a.Addr.String()); err != nil {
			return nil, err
		}
		for _, b := range l.Nodes {
			if a != b {
				if err := run(ctx, a.Cmd("ip", "route", "add", b.PodCIDR.String(), "via", b.Addr.String())...); err != nil {
					return nil, err
				}
			}
		}
	}
	return l, nil
}

// addNode makes node i's namespace, its veth pair into the bridge, its
// address and default route through the lab.
func (l *Lab) addNode(ctx context.Context, i int) (*Node, error) {
	n := &Node{
		Name:    fmt.Sprintf("node%d", i),
		Addr:    netip.AddrFrom4([4]byte{10, 200, 0, byte(10 + i)}),
		PodCIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(i), 0}), 24),
		fd:      -1,
		home:    int(l.home.Fd()),
	}
	n.holder = exec.Command("unshare", "--net", "sleep", "infinity")
	n.holder.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := n.holder.Start(); err != nil {
		return nil, fmt.Errorf("netlab: %s: %w", n.Name, err)
	}
	n.done = make(chan struct{})
	go func() { _ = n.holder.Wait(); close(n.done) }()
	l.Nodes = append(l.Nodes, n) // for Close, if what follows fails
	defer func() { l.Nodes = l.Nodes[:len(l.Nodes)-1] }()
	pid := n.holder.Process.Pid
	n.NetNS = fmt.Sprintf("/proc/%d/ns/net", pid)
	// unshare has made the namespace once /proc/PID/ns/net differs from
	// ours; until then the holder may still be in the lab's.
	ours, _ := os.Readlink("/proc/self/ns/net")
	if err := poll(ctx, 10*time.Second, func() error {
		if ns, err := os.Readlink(n.NetNS); err != nil || ns == ours {
			return fmt.Errorf("netlab: %s: namespace not made yet", n.Name)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	fd, err := unix.Open(n.NetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: %w", n.Name, err)
	}
	n.fd = fd
	veth := "ve-" + n.Name
	addr := netip.PrefixFrom(n.Addr, LabNet.Bits()).String()
	for _, argv := range [][]string{
		{"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", fmt.Sprint(pid)},
		{"ip", "link", "set", veth, "master", bridge},
		{"ip", "link", "set", veth, "up"},
		n.Cmd("ip", "link", "set", "lo", "up"),
		n.Cmd("ip", "addr", "add", addr, "dev", "eth0"),
		n.Cmd("ip", "link", "set", "eth0", "up"),
		n.Cmd("ip", "route", "add", "default", "via", Gateway.String()),
		n.Cmd("sysctl", "-q", "-w", "net.ipv4.ip_forward=1"),
	} {
		if err := run(ctx, argv...); err != nil {
			return nil, err
		}
	}
	l.logf("netlab: %s at %s in %s, pods %s", n.Name, n.Addr, n.NetNS, n.PodCIDR)
	return n, nil
}

// Cmd returns argv prefixed to run in the node's namespace (nsenter
// changes only the network namespace: the mounts, cgroups and PIDs stay
// the caller's).
func (n *Node) Cmd(argv ...string) []string {
	return append([]string{"nsenter", "--net=" + n.NetNS, "--"}, argv...)
}

// Dial connects to addr from inside the node's namespace, as a client on
// the node would: the socket is made on a thread switched into the
// namespace, and a socket stays in the namespace it was made in. The
// thread is switched back before it is used again; a thread that could not
// be switched back is never reused (it ends with its locked goroutine).
func (n *Node) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("netlab: enter %s: %w", n.Name, err)}
			return // the thread is dropped with this goroutine
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err := unix.Setns(n.home, unix.CLONE_NEWNET); err != nil {
			if c != nil {
				c.Close()
			}
			ch <- result{nil, fmt.Errorf("netlab: leave %s: %w", n.Name, err)}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// Close kills the namespaces' holders and waits for them; a namespace
// disappears once nothing else runs in it, so stop what runs in the nodes
// first. It goes on after an error and returns them joined.
func (l *Lab) Close() error {
	var errs []error
	for _, n := range l.Nodes {
		if n.fd >= 0 {
			unix.Close(n.fd)
		}
		if n.holder == nil || n.holder.Process == nil {
			continue
		}
		// Deleting one end deletes the pair at once; a namespace's own
		// links go only when the kernel gets round to freeing it.
		_ = exec.Command("ip", "link", "del", "ve-"+n.Name).Run()
		_ = n.holder.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(10 * time.Second):
			_ = n.holder.Process.Kill()
			<-n.done
		}
	}
	// The bridge and the veths' lab ends go with the lab namespace; remove
	// them now all the same, so that a lab that outlives this call is empty.
	_ = exec.Command("ip", "link", "del", bridge).Run()
	if l.home != nil {
		errs = append(errs, l.home.Close())
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, argv ...string) error {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netlab: %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func poll(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
