package shutdowntest

import (
	"context"
	"os"
	"syscall"
	"time"
)

const (
	// DefaultGracePeriod is the grace period when [Kubelet.GracePeriod] is
	// zero: the default of the pod's terminationGracePeriodSeconds.
	DefaultGracePeriod = 30 * time.Second
	// MinGraceAfterSignal is the least time between the stop signal and
	// SIGKILL, however long the preStop hook took: the kubelet's
	// minimumGracePeriodInSeconds
	// (pkg/kubelet/kuberuntime/kuberuntime_container.go).
	MinGraceAfterSignal = 2 * time.Second
)

// Kubelet terminates processes the way the kubelet terminates a container
// whose pod is deleted. The zero value sends SIGTERM, and SIGKILL 30 s later.
// A Kubelet is not changed by Terminate and may terminate several processes
// at once.
type Kubelet struct {
	// GracePeriod is the pod's terminationGracePeriodSeconds; it need not be
	// whole seconds. Defaults to [DefaultGracePeriod] when zero. When it is
	// negative the hook is skipped and the process gets
	// [MinGraceAfterSignal], as the kubelet runs a hook only with a positive
	// grace period.
	GracePeriod time.Duration
	// DeletionGracePeriod is the grace period of the deletion, when it is
	// not the pod's: kubectl delete --grace-period, a node-pressure
	// eviction (evictionMaxPodGracePeriod), a graceful node shutdown
	// (shutdownGracePeriod). When positive it replaces GracePeriod, as the
	// kubelet takes the pod's deletionGracePeriodSeconds before its spec's
	// terminationGracePeriodSeconds. The process is not told: it still
	// believes the spec's grace period. Zero means a plain deletion, whose
	// grace period is the spec's.
	DeletionGracePeriod time.Duration
	// PreStop is the preStop httpGet hook; nil means none.
	PreStop *HTTPGet
	// PreStopSleep is the native preStop sleep action
	// (lifecycle.preStop.sleep.seconds), used when PreStop is nil: the
	// kubelet waits this long, at most the grace period, before the stop
	// signal, and the process sees nothing of it. Zero means none.
	PreStopSleep time.Duration
	// StopSignal is sent first; nil means syscall.SIGTERM.
	StopSignal os.Signal
	// Logf, if not nil, is told each step, e.g. t.Logf.
	Logf func(format string, args ...any)
}

// Terminate terminates p: it runs the preStop hook (waiting for it at most
// the grace period, whether or not p exits meanwhile) or sleeps the preStop
// sleep action, sends the stop
// signal once with the remaining grace period (the hook's time rounded
// down to whole seconds subtracted, floored at [MinGraceAfterSignal]), and
// sends SIGKILL (p.Kill) when that is spent.
//
// Terminate blocks until p has exited, and returns what it saw. It never
// signals a process that has already exited. When ctx is done before p
// exits, Terminate stops waiting: it kills p at once (Report.Killed) and
// waits for it to exit. ctx also carries the hook's request, which, as with
// the kubelet, is not cancelled when Terminate stops waiting for it: the
// request then goes on after Terminate returns, until the server answers,
// the connection breaks (as when the process exits) or ctx is done.
func (k *Kubelet) Terminate(ctx context.Context, p Process) *Report {
	t := &termination{p: p, logf: k.Logf, start: time.Now()}
	grace := k.gracePeriod()
	switch {
	case grace <= 0:
	case k.PreStop != nil:
		grace -= t.preStop(ctx, k.PreStop, grace).Truncate(time.Second)
	case k.PreStopSleep > 0:
		grace -= t.sleep(ctx, min(k.PreStopSleep, grace)).Truncate(time.Second)
	}
	grace = max(grace, MinGraceAfterSignal)
	if t.running(ctx) {
		t.stop(ctx, k.stopSignal(), grace)
	}
	return t.finish(ctx)
}

func (k *Kubelet) gracePeriod() time.Duration {
	if k.DeletionGracePeriod > 0 {
		return k.DeletionGracePeriod
	}
	if k.GracePeriod == 0 {
		return DefaultGracePeriod
	}
	return k.GracePeriod
}

func (k *Kubelet) stopSignal() os.Signal {
	if k.StopSignal == nil {
		return syscall.SIGTERM
	}
	return k.StopSignal
}
