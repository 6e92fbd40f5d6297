// Command lameduck-check checks Kubernetes manifests for settings that break
// the graceful shutdown of services built with lameduck.
//
// Usage:
//
//	lameduck-check FILE...
//
// Each FILE holds YAML (or JSON) documents separated by "---" lines; "-"
// reads standard input. Pods, Deployments, StatefulSets, DaemonSets,
// ReplicaSets, Jobs and CronJobs are checked, other kinds are skipped. For
// each container configured for lameduck (a SHUTDOWN_* variable in its env,
// a preStop httpGet on /prestop or a path near it, or a probe of package
// readiness on its port named "admin") it prints one line per problem, naming
// the file, the object, the container, the problem and the fix, and one line
// per note on what it could not check. The rules are in the doc of package
// github.com/lameduck/lameduck/manifestcheck.
//
// It ends with a one-line summary and exits 2 if a file cannot be read or
// parsed, else 1 if it found a problem, else 0. Notes do not change the
// exit code.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/lameduck/lameduck/manifestcheck"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: lameduck-check FILE...
Checks Kubernetes manifests for settings that break a lameduck graceful
shutdown; "-" reads standard input. Exits 2 on unreadable input, 1 on a
problem, 0 when clean.
`

// run is the command with its inputs and outputs injected, and returns the
// exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var total manifestcheck.Report
	unreadable := 0
	for _, file := range args {
		r, err := checkFile(file, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "lameduck-check: %s: %s\n", file, reason(err))
			unreadable++
			continue
		}
		for _, f := range r.Findings {
			fmt.Fprintln(stdout, f)
		}
		total.Workloads += r.Workloads
		total.Skipped += r.Skipped
		total.Containers += r.Containers
		total.Findings = append(total.Findings, r.Findings...)
	}
	problems := total.Problems()
	fmt.Fprintf(stdout, "lameduck-check: %s (%d unreadable), %s (%s skipped), %s configured for lameduck: %s, %s\n",
		count(len(args), "file"), unreadable, count(total.Workloads, "workload"), count(total.Skipped, "other object"),
		count(total.Containers, "container"), count(problems, "problem"), count(len(total.Findings)-problems, "note"))
	switch {
	case unreadable > 0:
		return 2
	case problems > 0:
		return 1
	}
	return 0
}

func checkFile(file string, stdin io.Reader) (manifestcheck.Report, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return manifestcheck.Report{}, err
	}
	if file == "-" {
		file = "<stdin>"
	}
	return manifestcheck.Check(file, data)
}

// reason returns what err says about a file, without what the line
// already says: the file's name (os.ReadFile's *fs.PathError) and the
// package's prefix, so that each line names the command and the file once.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return strings.TrimPrefix(err.Error(), "manifestcheck: ")
}

// count returns "1 thing" or "n things".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
