package shutdown

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
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
	// DefaultCloseReserve is the time held back from the drains for the
	// close steps added with [Sequence.Add], shared among them.
	DefaultCloseReserve = time.Second
	// DefaultPreDrainMinimum is the least time the hooks added with
	// [Sequence.BeforeDrain] get when [WithPreDrainBudget] is not set and
	// the propagation delay applied is shorter (SIGINT, a failure during
	// start-up, a delay of 0): taken from the drains' time, and never more
	// than half the time from the trigger to the deadline.
	DefaultPreDrainMinimum = time.Second
	// DefaultForceExitCode is the exit code used when a second signal
	// forces the process to exit, or when the sequence has not finished
	// by its deadline.
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
// later option overrides an earlier one. Durations and codes are checked by
// [New], which reports every bad value at once; an option given a nil
// function panics, as that is a mistake in the program, not in its input.
type Option func(*config)

type config struct {
	grace, delay, margin, reserve time.Duration
	signals                       []os.Signal
	source                        <-chan os.Signal
	logger                        *slog.Logger
	exit                          func(code int)
	forceExitCode                 int
	prestopToken                  string
	prestopTokenFrom              string // the option or variable that set prestopToken
	preDrain                      time.Duration
	observe                       func(Event)
	errs                          []error
}

func defaultConfig() config {
	return config{
		grace:         DefaultGracePeriod,
		delay:         DefaultPropagationDelay,
		margin:        DefaultSafetyMargin,
		reserve:       DefaultCloseReserve,
		signals:       []os.Signal{syscall.SIGTERM, os.Interrupt},
		logger:        slog.Default(),
		exit:          os.Exit,
		forceExitCode: DefaultForceExitCode,
	}
}

// WithGracePeriod sets the pod's termination grace period. It must match
// terminationGracePeriodSeconds in the pod spec, which the process cannot
// read for itself. Defaults to [DefaultGracePeriod].
func WithGracePeriod(d time.Duration) Option { return func(c *config) { c.grace = d } }

// WithPropagationDelay sets how long the process keeps serving between the
// trigger and the drain. Zero is allowed (no delay). Defaults to
// [DefaultPropagationDelay].
func WithPropagationDelay(d time.Duration) Option { return func(c *config) { c.delay = d } }

// WithSafetyMargin sets how long before the kubelet's SIGKILL the deadline
// falls. Defaults to [DefaultSafetyMargin].
func WithSafetyMargin(d time.Duration) Option { return func(c *config) { c.margin = d } }

// WithCloseReserve sets the time held back from the drains for the close
// steps ([Sequence.Add]): the drains end d before the deadline when there
// are close steps, and not at all early when there are none. The close
// steps share d equally: each is abandoned early enough to leave every
// later one its share. It never takes more than half the time left when
// the drains start. Defaults to [DefaultCloseReserve].
func WithCloseReserve(d time.Duration) Option { return func(c *config) { c.reserve = d } }

// WithPreDrainBudget sets how long the hooks added with
// [Sequence.BeforeDrain] may take, from the trigger: the drains start when
// the propagation delay is over and every hook has returned or used up
// this budget. Zero means the propagation delay applied, so that the hooks
// do not hold the drains past it, but at least [DefaultPreDrainMinimum]
// (at most half the time to the deadline): with no delay (SIGINT, a
// failure during start-up, a delay of 0) the hooks still get time, and
// the drains start as soon as every hook has returned. Defaults to 0.
func WithPreDrainBudget(d time.Duration) Option { return func(c *config) { c.preDrain = d } }

// WithSignals sets the signals that trigger the sequence; a second one
// forces exit. With no signals, only /prestop, [Sequence.Trigger] and
// failures start it. os.Interrupt (SIGINT) skips the propagation delay.
// Defaults to SIGTERM and SIGINT.
func WithSignals(sigs ...os.Signal) Option {
	return func(c *config) { c.signals = append([]os.Signal(nil), sigs...) }
}

// WithSignalSource makes the sequence read its signals from ch instead of
// subscribing to the process's signals with os/signal, for tests and for
// programs that route signals themselves. [WithSignals] is then ignored.
// Closing ch means no more signals: the sequence stops reading it, and
// its other triggers and its backstop work as before.
func WithSignalSource(ch <-chan os.Signal) Option { return func(c *config) { c.source = ch } }

// WithLogger sets the logger for the sequence's events. Defaults to
// slog.Default(). It panics if l is nil.
func WithLogger(l *slog.Logger) Option {
	if l == nil {
		panic("shutdown: WithLogger(nil): pass slog.Default() or slog.New(slog.DiscardHandler)")
	}
	return func(c *config) { c.logger = l }
}

// WithExit sets the function called to force an exit: on a second signal,
// and when the sequence has not finished by its deadline. Defaults to
// os.Exit; tests inject their own. It panics if exit is nil.
func WithExit(exit func(code int)) Option {
	if exit == nil {
		panic("shutdown: WithExit(nil): pass os.Exit, or a function that records the code in tests")
	}
	return func(c *config) { c.exit = exit }
}

// WithForceExitCode sets the exit code for a forced exit, 0 to 255.
// Defaults to [DefaultForceExitCode].
func WithForceExitCode(code int) Option { return func(c *config) { c.forceExitCode = code } }

// WithPrestopToken makes [Sequence.PrestopHandler] require the header
// "Authorization: Bearer <token>", which the pod spec sets in the hook's
// httpHeaders. An empty token requires nothing. Defaults to "".
func WithPrestopToken(token string) Option {
	return func(c *config) { c.prestopToken, c.prestopTokenFrom = token, "WithPrestopToken" }
}

// FromEnv reads the configuration from the environment through lookup
// (pass os.LookupEnv): [EnvGracePeriod], [EnvPropagationDelay] and
// [EnvSafetyMargin] as Go durations ("45s") or whole seconds ("45"), and
// [EnvPrestopToken]. Unset or empty variables leave the configuration as
// it is, so place FromEnv before options that must win and after those it
// may override. A value that does not parse makes [New] fail.
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
			d, problem := parseDuration(s)
			if problem != "" {
				c.errs = append(c.errs, fmt.Errorf("shutdown: %s=%q %s", v.key, s, problem))
				continue
			}
			*v.dst = d
		}
		if s, ok := lookup(EnvPrestopToken); ok {
			c.prestopToken, c.prestopTokenFrom = s, EnvPrestopToken
		}
	}
}

// maxWholeSeconds is the largest number of whole seconds a time.Duration
// holds.
const maxWholeSeconds = math.MaxInt64 / int64(time.Second)

// ParseDuration parses a duration as [FromEnv] does: a Go duration ("45s",
// "1m30s") or whole seconds ("45", as in terminationGracePeriodSeconds).
// It rejects values a time.Duration cannot hold (about 292 years) rather
// than letting them wrap. Programs that read the same variables into flags
// use it to agree with FromEnv.
func ParseDuration(s string) (time.Duration, error) {
	d, problem := parseDuration(s)
	if problem != "" {
		return 0, fmt.Errorf("shutdown: %q %s", s, problem)
	}
	return d, nil
}

// parseDuration returns the duration, or what is wrong with s.
func parseDuration(s string) (time.Duration, string) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n > maxWholeSeconds || n < -maxWholeSeconds {
			return 0, fmt.Sprintf("is out of range: use at most %d seconds", maxWholeSeconds)
		}
		return time.Duration(n) * time.Second, ""
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, `is not a duration: use a Go duration such as "45s" or whole seconds such as "45"`
	}
	return d, ""
}

// validate reports every problem at once, each naming the field and the
// fix. The sums it checks cannot overflow: each term is first checked to
// be non-negative and below the grace period.
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
		{"close reserve", "WithCloseReserve", c.reserve},
		{"pre-drain budget", "WithPreDrainBudget", c.preDrain},
	} {
		if v.d < 0 {
			errs = append(errs, fmt.Errorf("shutdown: %s %v is negative: set %s to zero or more", v.name, v.d, v.fix))
		}
	}
	if c.grace > 0 && c.delay >= 0 && c.margin >= 0 && (c.margin >= c.grace || c.delay >= c.grace-c.margin) {
		errs = append(errs, fmt.Errorf("shutdown: propagation delay %v + safety margin %v does not fit in grace period %v: shorten the delay, or raise terminationGracePeriodSeconds and the grace period together", c.delay, c.margin, c.grace))
	}
	if c.grace > 0 && c.margin >= 0 && c.margin < c.grace && c.preDrain >= c.grace-c.margin {
		errs = append(errs, fmt.Errorf("shutdown: pre-drain budget %v does not fit in grace period %v less safety margin %v: shorten WithPreDrainBudget", c.preDrain, c.grace, c.margin))
	}
	if c.forceExitCode < 0 || c.forceExitCode > 255 {
		errs = append(errs, fmt.Errorf("shutdown: force exit code %d is out of range: set WithForceExitCode to 0..255", c.forceExitCode))
	}
	return errors.Join(errs...)
}
