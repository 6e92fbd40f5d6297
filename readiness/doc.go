// Package readiness holds a process's probe state for the kubelet and load
// balancers: starting, then ready once the program says start-up is
// complete, then lame duck, a state it never leaves. It serves /readyz,
// /livez and /startupz. Create it with [New] and the shutdown sequence, so
// that readiness fails the moment the sequence is triggered while liveness
// keeps passing; it imports no other package of the module.
//
// Kubernetes keeps running readiness probes while a pod terminates (and
// stops liveness and startup probes), and kube-proxy falls back to
// terminating endpoints that still report serving when no endpoint is
// ready; failing readiness at the trigger opts out of that fallback.
package readiness
