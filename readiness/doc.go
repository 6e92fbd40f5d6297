// Package readiness holds a process's probe state for the kubelet and load
// balancers: starting, then ready once the program says start-up is
// complete, then draining, a state it never leaves. It serves /readyz,
// /livez and /startupz. Wire it to the shutdown sequence with
// [Probe.DrainWhen] and the sequence's Triggered channel, so that readiness
// fails the moment the process becomes a lame duck while liveness keeps
// passing; it imports no other package of the module.
//
// Kubernetes keeps running readiness probes while a pod terminates (and
// stops liveness and startup probes), and kube-proxy falls back to
// terminating endpoints that still report serving when no endpoint is
// ready; failing readiness at the trigger opts out of that fallback.
package readiness
