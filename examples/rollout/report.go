package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// printTable writes one row per scenario: what the clients saw, what the
// kubelet saw, and what reached the disk.
func printTable(w io.Writer, results []*result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\tprotocol\tsent\tfailed\tfailed by kind\ttruncated\tresent\tp99\tterm→exit\tSIGKILLed\tacked\tlost\tjobs lost\t")
	for _, r := range results {
		truncated, lost, jobs := "-", "-", "-"
		if r.Protocol == page {
			truncated = fmt.Sprint(r.Load.Truncated)
		}
		if r.Protocol.writes() {
			lost = fmt.Sprint(r.Lost())
			jobs = fmt.Sprint(jobsLost(r.Stored))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%d\t%s\t%s\t%d/%d\t%d\t%s\t%s\t\n",
			r.Strategy, r.Protocol, r.Load.Sent, r.Load.Failed(), kinds(r.Load.Failures), truncated, r.Load.Resent,
			ms(r.Load.P99()), exitRange(r.Terminations), r.Killed(), len(r.Terminations),
			r.Load.OK, lost, jobs)
	}
	return tw.Flush()
}

// kinds is "EOF 3, refused 1", most frequent first, or "-".
func kinds(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	ks := slices.Collect(maps.Keys(m))
	slices.SortFunc(ks, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// exitRange is the shortest and longest time from the start of a
// termination (preStop or SIGTERM) to the process's exit.
func exitRange(ts []termination) string {
	if len(ts) == 0 {
		return "-"
	}
	lo, hi := ts[0].Report.ExitAfter, ts[0].Report.ExitAfter
	for _, t := range ts[1:] {
		lo, hi = min(lo, t.Report.ExitAfter), max(hi, t.Report.ExitAfter)
	}
	if hi-lo < 50*time.Millisecond {
		return secs(hi)
	}
	return secs(lo) + "–" + secs(hi)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

// printExamples writes one error message per kind of failure, so that a
// reader can see what the clients actually got.
func printExamples(w io.Writer, results []*result) {
	for _, r := range results {
		for _, k := range slices.Sorted(maps.Keys(r.Load.Failures)) {
			fmt.Fprintf(w, "  %s %s %s: %s\n", r.Strategy, r.Protocol, k, r.Load.Example(k))
		}
	}
}
