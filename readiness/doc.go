// Package readiness holds a process's probe state for the kubelet and load
// balancers, and answers their probes. A [Probe] is starting, then ready
// once the program says start-up is complete ([Probe.SetReady]), then a
// lame duck from the shutdown sequence's trigger on, a state it never
// leaves. Create it with [New] and the sequence, and serve it on the admin
// listener, which stays up until the process exits:
//
//	probe := readiness.New(seq)
//	seq.ServeAdmin(":9090", probe) // /readyz /servingz /livez /startupz /prestop
//	...
//	probe.SetReady()
//
// The Probe is an http.Handler ([Probe.ServeHTTP]) for four paths:
// /readyz and /servingz, which fail when the process should leave
// rotation; /livez, which passes to the end, so that a process shutting
// down on purpose is never restarted for it; and /startupz, which passes
// once start-up has completed. It imports no other package of the module:
// the sequence reaches it through the [Lifecycle] interface and the
// optional [TerminatingLifecycle] and [ReadinessTracker].
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
//
// Checks added with [Probe.AddCheck] (a database ping) make /readyz and
// /servingz fail while they fail, without moving the state. The package
// does not log, starts no goroutine, and does not decide when the process
// leaves: the sequence does.
package readiness
