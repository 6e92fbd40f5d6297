// Package kubernetes holds the Kubernetes manifests of the example services:
// http.yaml for examples/http and grpc.yaml for examples/grpc, each a
// Deployment and a Service. It has no Go code of its own; its test decodes
// the manifests strictly into the Kubernetes API types and checks that the
// kubelet's numbers (grace period, probes, preStop hook, ports) agree with
// the flags the services read from their environment.
package kubernetes
