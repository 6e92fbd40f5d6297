package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/lameduck/lameduck/e2e/internal/load"
	"github.com/lameduck/lameduck/e2e/internal/node"
)

// connTargets reads the node's conntrack table and returns, for each TCP
// connection the node opened to the ClusterIP address svc, its source
// port => the address that answered it: the pod kube-proxy's DNAT chose.
// Closed connections stay in the table for the TIME_WAIT timeout (120 s),
// longer than a scenario's load.
func connTargets(ctx context.Context, t *testing.T, n *node.Node, svc string) map[uint16]string {
	t.Helper()
	ip, port, _ := strings.Cut(svc, ":")
	argv := n.Net.Cmd("conntrack", "-L", "-p", "tcp", "--orig-dst", ip, "--orig-port-dst", port)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
	if err != nil {
		t.Errorf("%s: conntrack: %v", n.Name, err)
		return nil
	}
	return parseConntrack(string(out))
}

// parseConntrack reads "conntrack -L" lines: the first src and sport are
// the original direction's (the client), the second src the reply's (the
// pod, after DNAT).
func parseConntrack(out string) map[uint16]string {
	targets := map[uint16]string{}
	for _, line := range strings.Split(out, "\n") {
		var srcs, sports []string
		for _, f := range strings.Fields(line) {
			k, v, ok := strings.Cut(f, "=")
			switch {
			case !ok:
			case k == "src":
				srcs = append(srcs, v)
			case k == "sport":
				sports = append(sports, v)
			}
		}
		if len(srcs) < 2 || len(sports) < 1 {
			continue
		}
		p, err := strconv.ParseUint(sports[0], 10, 16)
		if err == nil {
			targets[uint16(p)] = srcs[1]
		}
	}
	return targets
}

func TestParseConntrack(t *testing.T) {
	out := `tcp      6 117 TIME_WAIT src=10.200.0.12 dst=10.96.0.45 sport=45678 dport=80 src=10.244.1.5 dst=10.200.0.12 sport=8080 dport=45678 [ASSURED] mark=0 use=1
tcp      6 9 CLOSE src=10.200.0.12 dst=10.96.0.45 sport=45680 dport=80 src=10.244.2.7 dst=10.244.2.1 sport=8080 dport=45680 mark=0 use=1
`
	assert.Equal(t, map[uint16]string{45678: "10.244.1.5", 45680: "10.244.2.7"}, parseConntrack(out))
	base := time.Now()
	conns := []load.Conn{
		{At: base, Local: netip.MustParseAddrPort("10.200.0.12:45678")},
		{At: base.Add(time.Second), Local: netip.MustParseAddrPort("10.200.0.12:45680")},
		{At: base.Add(2 * time.Second), Local: netip.MustParseAddrPort("10.200.0.12:45999")}, // not in the table
	}
	assert.Equal(t, map[string]time.Time{"10.244.1.5": base, "10.244.2.7": base.Add(time.Second)}, lastConns(conns, parseConntrack(out)))
	p := propagation{3 * time.Second, time.Second, 2 * time.Second}
	assert.Equal(t, "n=3 min 1.000 s, median 2.000 s, p90 2.000 s, max 3.000 s", p.String())
}

// lastConns returns, per pod IP, the time of the last of conns that
// conntrack shows reaching it.
func lastConns(conns []load.Conn, targets map[uint16]string) map[string]time.Time {
	last := map[string]time.Time{}
	for _, c := range conns {
		ip, ok := targets[c.Local.Port()]
		if ok && c.At.After(last[ip]) {
			last[ip] = c.At
		}
	}
	return last
}

// propagation is the distribution of the time from the API call that
// ended a pod to the last new connection kube-proxy sent it.
type propagation []time.Duration

func (p propagation) String() string {
	if len(p) == 0 {
		return "no terminations"
	}
	s := append(propagation(nil), p...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(f float64) float64 { return s[int(f*float64(len(s)-1))].Seconds() }
	return fmt.Sprintf("n=%d min %.3f s, median %.3f s, p90 %.3f s, max %.3f s", len(s), q(0), q(0.5), q(0.9), q(1))
}

// propagationOf returns, for each ended pod of outs whose new connections
// conntrack showed, the time from the API call to the last one.
func propagationOf(outs []outcome) propagation {
	var p propagation
	for _, o := range outs {
		for _, tm := range o.terminations {
			if tm.connSeen {
				p = append(p, tm.lastConn)
			}
		}
	}
	return p
}

// propagations gathers every scenario's propagation, for the run's
// distribution (TestZPropagation logs it).
var propagations struct {
	sync.Mutex
	all propagation
}

// recordPropagation logs the scenario's propagation distribution and adds
// it to the run's.
func recordPropagation(t *testing.T, scenario string, outs []outcome) {
	p := propagationOf(outs)
	t.Logf("%s: API call -> last new connection kube-proxy sent the old pod: %v", scenario, p)
	propagations.Lock()
	defer propagations.Unlock()
	propagations.all = append(propagations.all, p...)
}
