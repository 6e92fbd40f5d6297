// Package manifestcheck checks Kubernetes manifests for the settings that
// break a graceful shutdown of a service built with lameduck: a grace period
// the service and the kubelet disagree on, a propagation delay that leaves no
// time to drain, a preStop hook that does not start the shutdown sequence, and
// a readiness probe too slow to take the pod out of rotation during the delay.
//
// It is the library behind the lameduck-check command
// (github.com/lameduck/lameduck/manifestcheck/cmd/lameduck-check) and lives
// in a module of its own, so that k8s.io/api and sigs.k8s.io/yaml stay out of
// the go.mod of programs that use lameduck.
//
// [Parse] decodes the workloads of a YAML stream (Pod, Deployment,
// StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, and v1 List of them);
// [CheckWorkload] checks one; [Check] does both for one file. A container is
// checked when it is configured for lameduck: its env sets a
// SHUTDOWN_* variable, its preStop hook is an httpGet on /prestop or on a
// path near it (/prestopp, /pre-stop, /PreStop: the typo is then
// reported), or one of its probes is an httpGet on /readyz, /servingz,
// /livez or /startupz on its port named "admin". For each such container
// the rules are:
//
//   - SHUTDOWN_GRACE_PERIOD equals terminationGracePeriodSeconds (30 s when
//     either is unset): the kubelet kills at the second, the service plans
//     its drain with the first, and the downward API cannot tell it;
//   - SHUTDOWN_PROPAGATION_DELAY + SHUTDOWN_SAFETY_MARGIN (5 s and 2 s when
//     unset) is less than the grace period, and each variable holds a value
//     the shutdown package accepts (a Go duration or whole seconds);
//   - a preStop hook, if any, is an httpGet on /prestop, on a port (name or
//     number) that the container declares, with no host set;
//   - a readiness probe exists, and periodSeconds × failureThreshold (10 and
//     3 when unset) is at most the propagation delay (compared in whole
//     seconds, so that the slowest probes the API allows are reported);
//   - a readiness probe that is an httpGet is on /servingz, not /readyz:
//     /readyz fails at the trigger, which makes a deleted pod stop being a
//     serving endpoint during the delay, so kube-proxy cannot fall back to
//     it when the Service has no ready endpoint; /servingz keeps passing
//     until the drains start. /readyz is for load balancers that probe
//     pods themselves.
//
// What it cannot see it reports as a note, not a problem: values from
// valueFrom (ConfigMap, Secret and field references), values that refer to
// other variables with $(NAME), and envFrom sources. It does not read a
// deletion's own grace period (kubectl delete --grace-period), which
// overrides terminationGracePeriodSeconds.
package manifestcheck
