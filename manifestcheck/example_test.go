package manifestcheck_test

import (
	"fmt"

	"github.com/lameduck/lameduck/manifestcheck"
)

func ExampleCheck() {
	manifest := `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 60
      containers:
        - name: web
          env: [{name: SHUTDOWN_PROPAGATION_DELAY, value: "10s"}]
          ports: [{name: admin, containerPort: 9090}]
          lifecycle: {preStop: {httpGet: {path: /prestop, port: admin}}}
          readinessProbe: {httpGet: {path: /servingz, port: admin}, periodSeconds: 5, failureThreshold: 2}
`
	r, err := manifestcheck.Check("web.yaml", []byte(manifest))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range r.Findings {
		fmt.Println(f)
	}
	fmt.Println(r.Problems(), "problem")
	// Output:
	// web.yaml: Deployment/shop/web: container "web": SHUTDOWN_GRACE_PERIOD 30s (default) differs from terminationGracePeriodSeconds 60; fix: set terminationGracePeriodSeconds and SHUTDOWN_GRACE_PERIOD to the same number of seconds: the kubelet kills at the first, the service plans its drain with the second
	// 1 problem
}
