package shutdown

import (
	"os"
	"time"
)

// The kubelet's stop signal after a preStop hook it gave up on.
const (
	// kubeletMinGrace is the least time the kubelet leaves between its stop
	// signal and SIGKILL, however long the preStop hook took: its
	// minimumGracePeriodInSeconds (killContainer in
	// pkg/kubelet/kuberuntime/kuberuntime_container.go).
	kubeletMinGrace = 2 * time.Second
	// lateSignalMargin is kept before that SIGKILL when a signal arrives
	// while /prestop is still waiting: the sequence then re-plans to end
	// by the signal + kubeletMinGrace − lateSignalMargin, and forces the
	// exit by half this margin later. It fits in kubeletMinGrace, unlike
	// the safety margin.
	lateSignalMargin = 500 * time.Millisecond
)

// joinSignal handles a first signal that arrives after the trigger: it
// joins the running sequence, and says so in the log. If /prestop
// triggered the sequence and its delay is not over, the kubelet gave up
// waiting for the hook, which happens when the pod's deletion has a grace
// period shorter than the delay (kubectl delete --grace-period, a
// node-pressure eviction, a graceful node shutdown), and its SIGKILL
// follows at least kubeletMinGrace after the signal. The sequence then
// re-plans (see planBudget): the delay ends now, and the deadline becomes
// the signal + kubeletMinGrace − lateSignalMargin unless it was earlier.
// joinSignal reports whether it re-planned. Owned by watch.
func (s *Sequence) joinSignal(sig os.Signal) bool {
	now := time.Now()
	if s.trig.kind != byPrestop || !now.Before(s.trig.at.Add(s.trig.delay)) {
		s.log.Info("shutdown: signal joins the sequence", "signal", signalName(sig), "source", s.trig.source)
		return false
	}
	s.lateAt = now
	close(s.late)
	b := s.budget("", time.Time{}, 0, 0)
	s.deadlineTimer.Reset(time.Until(b.deadline))
	s.mu.Lock()
	s.timeline.Delay, s.timeline.Deadline = now.Sub(s.trig.at), b.deadline
	s.mu.Unlock()
	s.log.Warn("shutdown: signal while /prestop still waits: the kubelet gave up on the hook, SIGKILL follows in 2s; draining now",
		"signal", signalName(sig), "source", s.trig.source, "delay", now.Sub(s.trig.at).String(), "budget", b.deadline.Sub(now).String())
	return true
}
