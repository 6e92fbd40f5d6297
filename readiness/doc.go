// Package readiness holds a process's probe state for the kubelet and load
// balancers: starting, then ready once the program says start-up is
// complete, then lame duck, a state it never leaves. It serves /readyz,
// /servingz, /livez and /startupz. Create it with [New] and the shutdown
// sequence, so that readiness fails when the sequence is triggered while
// liveness keeps passing; it imports no other package of the module.
//
// Two readiness endpoints serve two kinds of reader. /readyz fails at the
// trigger: it is for load balancers that probe the pods themselves, for
// which a failing probe is the only sign that the process is leaving.
// /servingz is for the kubelet's readinessProbe. Kubernetes keeps running
// readiness probes while a pod terminates (and stops liveness and startup
// probes); the probe sets the EndpointSlice's serving condition, and
// kube-proxy falls back to terminating endpoints that still report serving
// when a Service has no ready endpoint. The deletion already made the
// endpoint not ready, so after a termination /servingz keeps passing until
// the drains start, and the fallback keeps the pod while it still serves.
package readiness
