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

	"github.com/lameduck/lameduck/shutdown/internal/hook"
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
)

// defaultAfterDrainReserve is documented on WithAfterDrainReserve.
const defaultAfterDrainReserve = time.Second

// The environment variables read by FromEnv, named in its doc.
const (
	envGracePeriod      = "SHUTDOWN_GRACE_PERIOD"
	envPropagationDelay = "SHUTDOWN_PROPAGATION_DELAY"
	envSafetyMargin     = "SHUTDOWN_SAFETY_MARGIN"
	envPrestopToken     = "SHUTDOWN_PRESTOP_TOKEN"
)

// forcedExitCode is the exit code of a forced exit.
const forcedExitCode = 1

// An Option configures a [Sequence]. Options apply in the order given, so a
// later option overrides an earlier one, except that the variables read by
// [FromEnv] override every option. A duration that can come from
// configuration never panics: each option's doc says what it does with
// zero, negative and out-of-range values, and [New] reports what no clamp
// can give a meaning. An option given a nil function or logger panics, as
// that is a mistake in the program, not in its input.
type Option func(*config)

type config struct {
	grace, delay, margin, reserve time.Duration
	signals                       []os.Signal
	source                        <-chan os.Signal // set by tests through package hook
	logger                        *slog.Logger
	exit                          func(code int)
	prestopToken                  string
	prestopTokenFrom              string // the option or variable that set prestopToken
	observe                       func(Step)
	env                           []func(key string) (string, bool) // from FromEnv, read after every option
	errs                          []error
}

func init() {
	hook.Option = func(s hook.Settings) any {
		return Option(func(c *config) {
			if s.Signals != nil {
				c.source = s.Signals
			}
			if s.Exit != nil {
				c.exit = s.Exit
			}
		})
	}
}

func defaultConfig() config {
	return config{
		grace:   DefaultGracePeriod,
		delay:   DefaultPropagationDelay,
		margin:  DefaultSafetyMargin,
		reserve: defaultAfterDrainReserve,
		signals: []os.Signal{syscall.SIGTERM, os.Interrupt},
		logger:  slog.Default(),
		exit:    os.Exit,
	}
}

// WithGracePeriod sets the pod's termination grace period. It must match
// terminationGracePeriodSeconds in the pod spec, which the process cannot
// read for itself. A grace period of zero or less has no meaning: [New]
// returns an error for it. Defaults to [DefaultGracePeriod].
func WithGracePeriod(d time.Duration) Option { return func(c *config) { c.grace = d } }

// WithPropagationDelay sets how long the process keeps serving between the
// trigger and the drain. Zero or less means no delay. The delay and the
// safety margin must fit in the grace period with time left for the drain,
// or [New] returns an error. Defaults to [DefaultPropagationDelay].
func WithPropagationDelay(d time.Duration) Option {
	return func(c *config) { c.delay = max(d, 0) }
}

// WithSafetyMargin sets how long before the kubelet's SIGKILL the deadline
// falls. Zero or less means none: the deadline is the SIGKILL, and a
// sequence that overruns is not forced to exit before it. The margin and
// the propagation delay must fit in the grace period, or [New] returns an
// error. Defaults to [DefaultSafetyMargin].
func WithSafetyMargin(d time.Duration) Option {
	return func(c *config) { c.margin = max(d, 0) }
}

// WithAfterDrainReserve sets the time held back from the drains for the
// after-drain steps ([Sequence.AfterDrain]): the drains end d before the
// deadline when there are after-drain steps, and not at all early when
// there are none. The steps share d equally: each is abandoned early
// enough to leave every later one its share. Zero or less holds nothing
// back; a reserve longer than half the time left when the drains start is
// clamped to that half. Defaults to 1 s.
func WithAfterDrainReserve(d time.Duration) Option {
	return func(c *config) { c.reserve = max(d, 0) }
}

// WithSignals sets the signals that trigger the sequence; a second one
// forces the exit. With no signals, only /prestop, [Sequence.Trigger] and
// failures start it. os.Interrupt (SIGINT) skips the propagation delay.
// Defaults to SIGTERM and SIGINT.
func WithSignals(sigs ...os.Signal) Option {
	return func(c *config) { c.signals = append([]os.Signal(nil), sigs...) }
}

// WithLogger sets the logger for the sequence's events. Defaults to
// slog.Default(). It panics if l is nil.
func WithLogger(l *slog.Logger) Option {
	if l == nil {
		panic("shutdown: WithLogger(nil): pass slog.Default() or slog.New(slog.DiscardHandler)")
	}
	return func(c *config) { c.logger = l }
}

// WithPrestopToken makes [Sequence.PrestopHandler] require the header
// "Authorization: Bearer <token>", which the pod spec sets in the hook's
// httpHeaders. An empty token requires nothing. Defaults to "".
func WithPrestopToken(token string) Option {
	return func(c *config) { c.prestopToken, c.prestopTokenFrom = token, "WithPrestopToken" }
}

// FromEnv reads the configuration from the environment through lookup
// (pass os.LookupEnv) when [New] runs: SHUTDOWN_GRACE_PERIOD,
// SHUTDOWN_PROPAGATION_DELAY and SHUTDOWN_SAFETY_MARGIN as Go durations
// ("45s") or whole seconds ("45", as in terminationGracePeriodSeconds),
// and SHUTDOWN_PRESTOP_TOKEN. A variable that is set and non-empty
// overrides every option, wherever FromEnv is placed among them: the
// deployment's manifest is the truth about the grace period. Unset or
// empty variables leave the options' values. The values mean what they
// mean on the options ([WithGracePeriod], [WithPropagationDelay],
// [WithSafetyMargin], [WithPrestopToken]); a value that does not parse, or
// that a time.Duration cannot hold (about 292 years), makes New fail,
// naming the variable. With several FromEnv, each is read in turn and the
// last one that sets a variable wins. It panics if lookup is nil.
func FromEnv(lookup func(key string) (string, bool)) Option {
	if lookup == nil {
		panic("shutdown: FromEnv(nil): pass os.LookupEnv")
	}
	return func(c *config) { c.env = append(c.env, lookup) }
}

// readEnv applies the variables lookup has set, as FromEnv says.
func (c *config) readEnv(lookup func(key string) (string, bool)) {
	for _, v := range []struct {
		key string
		set func(time.Duration) Option
	}{{envGracePeriod, WithGracePeriod}, {envPropagationDelay, WithPropagationDelay}, {envSafetyMargin, WithSafetyMargin}} {
		s, ok := lookup(v.key)
		if !ok || s == "" {
			continue
		}
		d, problem := parseDuration(s)
		if problem != "" {
			c.errs = append(c.errs, fmt.Errorf("shutdown: %s=%q %s", v.key, s, problem))
			continue
		}
		v.set(d)(c)
	}
	if s, ok := lookup(envPrestopToken); ok && s != "" {
		c.prestopToken, c.prestopTokenFrom = s, envPrestopToken
	}
}

// maxWholeSeconds is the largest number of whole seconds a time.Duration
// holds.
const maxWholeSeconds = math.MaxInt64 / int64(time.Second)

// parseDuration returns the duration, or what is wrong with s: a Go
// duration ("45s", "1m30s") or whole seconds ("45"), rejecting values a
// time.Duration cannot hold rather than letting them wrap.
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

// validate reports every problem at once, each naming the setting and the
// fix. The options have clamped delay, margin and reserve to zero or more,
// so the sums it checks cannot overflow once the grace period is positive.
func (c *config) validate() error {
	errs := c.errs
	if c.grace <= 0 {
		errs = append(errs, fmt.Errorf("shutdown: grace period %v is not positive: set WithGracePeriod or %s to the pod's terminationGracePeriodSeconds", c.grace, envGracePeriod))
	} else if c.margin >= c.grace || c.delay >= c.grace-c.margin {
		errs = append(errs, fmt.Errorf("shutdown: propagation delay %v + safety margin %v does not fit in grace period %v: shorten the delay, or raise terminationGracePeriodSeconds and the grace period together", c.delay, c.margin, c.grace))
	}
	return errors.Join(errs...)
}
