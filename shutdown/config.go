package shutdown

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Defaults, as documented on each [Option].
const (
	// DefaultGracePeriod is the Kubernetes default for
	// terminationGracePeriodSeconds.
	DefaultGracePeriod = 30 * time.Second
	// DefaultPropagationDelay is how long the process keeps serving after
	// the trigger, while endpoints and load balancers learn it is leaving.
	DefaultPropagationDelay = 5 * time.Second
	// DefaultSafetyMargin is kept between the deadline and the SIGKILL.
	DefaultSafetyMargin = 2 * time.Second
	// DefaultStepReserve is the time kept back for each step that has not
	// yet run, so that a drain forced at its deadline leaves room for them.
	DefaultStepReserve = time.Second
	// DefaultForceExitCode is the exit code used when a second signal
	// forces the process to exit.
	DefaultForceExitCode = 1
)

// Environment variables read by [FromEnv].
const (
	EnvGracePeriod      = "SHUTDOWN_GRACE_PERIOD"
	EnvPropagationDelay = "SHUTDOWN_PROPAGATION_DELAY"
	EnvSafetyMargin     = "SHUTDOWN_SAFETY_MARGIN"
	EnvPrestopToken     = "SHUTDOWN_PRESTOP_TOKEN"
)

// An Option configures a [Sequence]. Options apply in the order given, so a
// later option overrides an earlier one.
type Option func(*config)

type config struct {
	grace, delay, margin, reserve time.Duration
	signals                       []os.Signal
	source                        <-chan os.Signal
	logger                        *slog.Logger
	exit                          func(code int)
	forceExitCode                 int
	prestopToken                  string
	errs                          []error // from options that parse input
}

func defaultConfig() config {
	return config{
		grace:         DefaultGracePeriod,
		delay:         DefaultPropagationDelay,
		margin:        DefaultSafetyMargin,
		reserve:       DefaultStepReserve,
		signals:       []os.Signal{syscall.SIGTERM, os.Interrupt},
		exit:          os.Exit,
		forceExitCode: DefaultForceExitCode,
	}
}

// WithGracePeriod sets the pod's termination grace period. It must match
// terminationGracePeriodSeconds in the pod spec, which the process cannot
// read for itself. Defaults to [DefaultGracePeriod].
func WithGracePeriod(d time.Duration) Option { return func(c *config) { c.grace = d } }

// WithPropagationDelay sets how long the process keeps serving between the
// trigger and the first step. Zero is allowed (no delay). Defaults to
// [DefaultPropagationDelay].
func WithPropagationDelay(d time.Duration) Option { return func(c *config) { c.delay = d } }

// WithSafetyMargin sets how long before the kubelet's SIGKILL the deadline
// falls. Defaults to [DefaultSafetyMargin].
func WithSafetyMargin(d time.Duration) Option { return func(c *config) { c.margin = d } }

// WithStepReserve sets the time each step keeps back for every step
// registered after it: step i's deadline is the sequence's deadline less
// d×(steps after i), but never less than half the time left when it starts.
// Defaults to [DefaultStepReserve].
func WithStepReserve(d time.Duration) Option { return func(c *config) { c.reserve = d } }

// WithSignals sets the signals that trigger the sequence; a second one
// forces exit. With no signals, only /prestop and [Sequence.Trigger] start
// it. os.Interrupt (SIGINT) skips the propagation delay. Defaults to
// SIGTERM and SIGINT.
func WithSignals(sigs ...os.Signal) Option {
	return func(c *config) { c.signals = append([]os.Signal(nil), sigs...) }
}

// WithSignalSource makes the sequence read its signals from ch instead of
// subscribing to the process's signals with os/signal, for tests and for
// programs that route signals themselves. [WithSignals] is then ignored.
func WithSignalSource(ch <-chan os.Signal) Option { return func(c *config) { c.source = ch } }

// WithLogger sets the logger for the timeline events. Defaults to
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithExit sets the function called to force an exit on a second signal.
// Defaults to os.Exit; tests inject their own.
func WithExit(exit func(code int)) Option { return func(c *config) { c.exit = exit } }

// WithForceExitCode sets the exit code for a forced exit. Defaults to
// [DefaultForceExitCode].
func WithForceExitCode(code int) Option { return func(c *config) { c.forceExitCode = code } }

// WithPrestopToken makes [Sequence.PrestopHandler] require the header
// "Authorization: Bearer <token>", which the pod spec sets in the hook's
// httpHeaders. An empty token requires nothing. Defaults to "".
func WithPrestopToken(token string) Option { return func(c *config) { c.prestopToken = token } }

// FromEnv reads the configuration from the environment through lookup
// (pass os.LookupEnv): [EnvGracePeriod], [EnvPropagationDelay] and
// [EnvSafetyMargin] as Go durations ("45s") or whole seconds ("45"), and
// [EnvPrestopToken]. Unset variables leave the configuration as it is, so
// place FromEnv before options that must win and after those it may
// override. A value that does not parse makes [New] fail.
func FromEnv(lookup func(key string) (string, bool)) Option {
	return func(c *config) {
		for _, v := range []struct {
			key string
			dst *time.Duration
		}{{EnvGracePeriod, &c.grace}, {EnvPropagationDelay, &c.delay}, {EnvSafetyMargin, &c.margin}} {
			s, ok := lookup(v.key)
			if !ok || s == "" {
				continue
			}
			d, err := ParseDuration(s)
			if err != nil {
				c.errs = append(c.errs, fmt.Errorf("shutdown: %s=%q is not a duration: use a Go duration such as \"45s\" or whole seconds such as \"45\"", v.key, s))
				continue
			}
			*v.dst = d
		}
		if s, ok := lookup(EnvPrestopToken); ok {
			c.prestopToken = s
		}
	}
}

// ParseDuration parses a duration as [FromEnv] does: a Go duration ("45s",
// "1m30s") or whole seconds ("45", as in terminationGracePeriodSeconds).
// Programs that read the same variables into flags use it to agree with
// FromEnv.
func ParseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// validate reports every problem at once, each naming the field and the fix.
func (c *config) validate() error {
	errs := c.errs
	if c.grace <= 0 {
		errs = append(errs, fmt.Errorf("shutdown: grace period %v is not positive: set WithGracePeriod or %s to the pod's terminationGracePeriodSeconds", c.grace, EnvGracePeriod))
	}
	for _, v := range []struct {
		name, fix string
		d         time.Duration
	}{
		{"propagation delay", "WithPropagationDelay or " + EnvPropagationDelay, c.delay},
		{"safety margin", "WithSafetyMargin or " + EnvSafetyMargin, c.margin},
		{"step reserve", "WithStepReserve", c.reserve},
	} {
		if v.d < 0 {
			errs = append(errs, fmt.Errorf("shutdown: %s %v is negative: set %s to zero or more", v.name, v.d, v.fix))
		}
	}
	if c.grace > 0 && c.delay >= 0 && c.margin >= 0 && c.delay+c.margin >= c.grace {
		errs = append(errs, fmt.Errorf("shutdown: propagation delay %v + safety margin %v does not fit in grace period %v: shorten the delay, or raise terminationGracePeriodSeconds and the grace period together", c.delay, c.margin, c.grace))
	}
	return errors.Join(errs...)
}
