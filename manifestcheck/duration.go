package manifestcheck

import (
	"errors"
	"math"
	"strconv"
	"time"
)

// The shutdown package's environment variables and defaults
// (shutdown/config.go in github.com/lameduck/lameduck). They are copied, not
// imported, because a go install of this command cannot follow a replace
// directive to the core module; a test reads config.go to keep them in step.
const (
	envGracePeriod      = "SHUTDOWN_GRACE_PERIOD"
	envPropagationDelay = "SHUTDOWN_PROPAGATION_DELAY"
	envSafetyMargin     = "SHUTDOWN_SAFETY_MARGIN"

	defaultGracePeriod      = 30 * time.Second
	defaultPropagationDelay = 5 * time.Second
	defaultSafetyMargin     = 2 * time.Second
)

// The API server's defaults for a probe (k8s.io/api core/v1 Probe docs).
const (
	defaultProbePeriodSeconds    = 10
	defaultProbeFailureThreshold = 3
)

// prestopPath is the path the shutdown package's preStop handler is served
// on in the examples, and the one a preStop httpGet must call.
const prestopPath = "/prestop"

// The readiness package's endpoints for probes: readyzPath fails at the
// trigger, for load balancers that probe pods; servingzPath, for the
// kubelet's readinessProbe, keeps passing after a deletion's SIGTERM or
// /prestop until the drains start.
const (
	readyzPath   = "/readyz"
	servingzPath = "/servingz"
)

// maxWholeSeconds is the largest number of whole seconds a time.Duration
// holds.
const maxWholeSeconds = math.MaxInt64 / int64(time.Second)

var (
	errRange       = errors.New("is out of range: use at most 9223372036 seconds (about 292 years)")
	errNotDuration = errors.New(`is not a duration: use a Go duration such as "45s" or whole seconds such as "45"`)
)

// parseDuration parses s as the shutdown package's FromEnv does: whole
// seconds or a Go duration, rejecting what a time.Duration cannot hold
// rather than letting it wrap.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n > maxWholeSeconds || n < -maxWholeSeconds {
			return 0, errRange
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errNotDuration
	}
	return d, nil
}
