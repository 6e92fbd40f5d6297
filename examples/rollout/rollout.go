package main

import (
	"context"
	"fmt"
	"time"

	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

// balancer is the load balancer in front of the copies.
type balancer interface {
	// Addr is the address clients connect to.
	Addr() string
	// Name describes the balancer for the report.
	Name() string
	// InRotation reports whether new connections may go to copy i.
	InRotation(ctx context.Context, i int) (bool, error)
	// Close stops the balancer and waits for it.
	Close() error
}

// termination is what happened to one copy during the rolling restart.
type termination struct {
	Copy   int
	Report *shutdowntest.Report
	// Out is the time from the old copy's exit until the balancer had
	// it out of rotation (zero when it was out before it exited).
	Out time.Duration
	// Back is the time from the old copy's exit until its replacement was
	// ready and in the balancer's rotation.
	Back time.Duration
}

// kubeletFor returns the kubelet that terminates copies of a strategy:
// lameduck gets a preStop hook (GET /prestop on the admin port), sleep the
// native preStop sleep action of the propagation delay, the others none.
func kubeletFor(strategy string, spec copySpec, admin string, logf func(string, ...any)) *shutdowntest.Kubelet {
	k := &shutdowntest.Kubelet{GracePeriod: spec.Grace, Logf: logf}
	switch strategy {
	case "lameduck":
		k.PreStop = &shutdowntest.HTTPGet{URL: "http://" + admin + "/prestop"}
	case "sleep":
		k.PreStopSleep = spec.Delay
	}
	return k
}

// rollingRestart terminates each copy in turn, waits for it to exit,
// starts its replacement from the same spec (same ports, same data
// directory), and waits until the replacement is ready and in the
// balancer's rotation before it goes on, like a Deployment with
// maxSurge 0 and maxUnavailable 1. It updates copies in place, so that
// the caller can stop whatever runs when it returns, even on error.
func rollingRestart(ctx context.Context, specs []copySpec, copies []*instance, lb balancer, strategy string, say func(string, ...any)) ([]termination, error) {
	var out []termination
	for i, in := range copies {
		rep := kubeletFor(strategy, specs[i], in.Admin, nil).Terminate(ctx, in.proc)
		copies[i] = nil
		exited := time.Now()
		// A pod's address dies with it: the replacement may only take the
		// same ports once the balancer stopped sending new connections
		// there, or it would serve connections meant for the dead copy and
		// hide their failures.
		if err := waitRotation(ctx, lb, i, false); err != nil {
			return out, err
		}
		t := termination{Copy: i, Report: rep, Out: time.Since(exited)}
		next, err := startCopy(ctx, specs[i])
		if err != nil {
			return out, err
		}
		copies[i] = next
		if err := waitRotation(ctx, lb, i, true); err != nil {
			return out, err
		}
		t.Back = time.Since(exited)
		out = append(out, t)
		say("copy %d/%d: %s; out of rotation +%.2fs, replacement in rotation +%.2fs",
			i+1, len(copies), describe(rep), t.Out.Seconds(), t.Back.Seconds())
	}
	return out, nil
}

// describe sums up a kubelet report in a few words.
func describe(r *shutdowntest.Report) string {
	s := ""
	if r.PreStopStatus != 0 || r.PreStopErr != nil {
		s = fmt.Sprintf("preStop %.1fs, ", r.PreStopDuration.Seconds())
	}
	s += fmt.Sprintf("SIGTERM at %.1fs, exit %d at %.1fs", r.SignalAfter.Seconds(), r.ExitCode, r.ExitAfter.Seconds())
	if r.Killed {
		s += " (SIGKILLed)"
	}
	return s
}

// waitRotation polls lb until copy i is in rotation (want true) or out
// of it (want false), for at most 30 s.
func waitRotation(ctx context.Context, lb balancer, i int, want bool) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		in, err := lb.InRotation(ctx, i)
		if err == nil && in == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rollout: copy %d: balancer never showed in rotation = %v: %w (last error: %v)", i, want, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
