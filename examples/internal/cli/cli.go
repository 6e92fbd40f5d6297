// Package cli parses the command line shared by the lameduck example
// services (examples/http, examples/grpc): every flag can also come from an
// environment variable, and a flag given on the command line wins. The
// services hand the result to the shutdown package (grace period and
// propagation delay), to the store package (data directory) and to their
// own strategy switch.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// Defaults of the flags.
const (
	DefaultAddr             = ":8080"
	DefaultAdminAddr        = ":9090"
	DefaultGracePeriod      = 30 * time.Second
	DefaultPropagationDelay = 5 * time.Second
	DefaultDataDir          = "./.data"
	DefaultStrategy         = Lameduck
	// DefaultMaxConnAge and DefaultStreamEndWindow are zero: off.
	DefaultMaxConnAge      time.Duration = 0
	DefaultStreamEndWindow time.Duration = 0
)

// MinMaxConnAge is the shortest -max-conn-age besides 0: a shorter age
// recycles every connection as it opens, and is a unit mistake.
const MinMaxConnAge = time.Millisecond

// Strategy is how a service handles termination.
type Strategy string

// The strategies a service can be run with, to compare them under the same
// load.
const (
	// Lameduck runs the lameduck sequence: readiness fails, serving goes on
	// through the propagation delay, then servers drain, the database
	// closes and the journal is flushed, within the grace period.
	Lameduck Strategy = "lameduck"
	// Shutdown is the common pattern: at SIGTERM or SIGINT call
	// http.Server.Shutdown (gRPC: GracefulStop) with the grace period as
	// its timeout, then close the database and flush the journal.
	Shutdown Strategy = "shutdown"
	// None handles no signal: SIGTERM kills the process, and the journal
	// lines still buffered are lost.
	None Strategy = "none"
)

// ErrUsage is wrapped by every error [Parse] returns for a bad flag or
// environment value, and is flag.ErrHelp's sibling for -h.
var ErrUsage = errors.New("cli: bad usage")

// Config is the parsed command line.
type Config struct {
	Addr        string        // -addr, $ADDR: the traffic listener
	AdminAddr   string        // -admin-addr, $ADMIN_ADDR: probes and /prestop
	GracePeriod time.Duration // -grace, $SHUTDOWN_GRACE_PERIOD
	Delay       time.Duration // -delay, $SHUTDOWN_PROPAGATION_DELAY
	DataDir     string        // -data, $DATA_DIR: database and journal
	Strategy    Strategy      // -strategy, $STRATEGY
	TLSCert     string        // -tls-cert, $TLS_CERT_FILE: PEM certificate chain; with TLSKey, the traffic listener serves TLS
	TLSKey      string        // -tls-key, $TLS_KEY_FILE: PEM private key of TLSCert
	// MaxConnAge is -max-conn-age, $MAX_CONNECTION_AGE: connections older
	// than this (±10 %) are ended gracefully so that clients reconnect
	// through the load balancer (httpdrain.WithMaxConnectionAge,
	// grpcdrain.WithMaxConnectionAge); 0 is off.
	MaxConnAge time.Duration
	// StreamEndWindow is -stream-end-window, $STREAM_END_WINDOW: the
	// window over which long-lived streams (gRPC:
	// grpcdrain.WithDrainWindow) or keep-alive connections (HTTP:
	// httpdrain.WithLameDuckWindow) are ended one after another
	// rather than at once; 0 is off.
	StreamEndWindow time.Duration
}

// TLS reports whether the traffic listener is to serve TLS: both
// -tls-cert and -tls-key are set ([Parse] rejects one without the other).
func (c Config) TLS() bool { return c.TLSCert != "" && c.TLSKey != "" }

// Parse parses args (without the program name) with environment values
// from lookupEnv (os.LookupEnv in main) as defaults, so a flag on the
// command line wins over its variable. The flag package writes usage and
// its own errors to output; the returned error is for the caller to
// report. It returns flag.ErrHelp for -h, and an error wrapping [ErrUsage]
// for a bad flag, a bad environment value, a positional argument, a
// non-positive grace period, a negative delay, an unknown strategy, only
// one of -tls-cert and -tls-key, a negative -stream-end-window, or a
// -max-conn-age that is negative or under [MinMaxConnAge]. It does not read the certificate files:
// the service loads them when it starts. Fitting the delay into the grace
// period is left to the shutdown package, which knows its safety margin.
func Parse(name string, args []string, lookupEnv func(string) (string, bool), output io.Writer) (Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(output)
	env := envDefaults{lookup: lookupEnv}
	var c Config
	fs.StringVar(&c.Addr, "addr", env.str("ADDR", DefaultAddr), "traffic listen address ($ADDR)")
	fs.StringVar(&c.AdminAddr, "admin-addr", env.str("ADMIN_ADDR", DefaultAdminAddr), "admin listen address for /readyz /livez /startupz /prestop ($ADMIN_ADDR)")
	fs.DurationVar(&c.GracePeriod, "grace", env.duration("SHUTDOWN_GRACE_PERIOD", DefaultGracePeriod), "the pod's terminationGracePeriodSeconds ($SHUTDOWN_GRACE_PERIOD)")
	fs.DurationVar(&c.Delay, "delay", env.duration("SHUTDOWN_PROPAGATION_DELAY", DefaultPropagationDelay), "how long to keep serving after the trigger ($SHUTDOWN_PROPAGATION_DELAY)")
	fs.StringVar(&c.DataDir, "data", env.str("DATA_DIR", DefaultDataDir), "directory of lameduck.db and journal.log, created if missing ($DATA_DIR)")
	strategy := env.str("STRATEGY", string(DefaultStrategy))
	fs.StringVar(&strategy, "strategy", strategy, "termination handling: lameduck, shutdown or none ($STRATEGY)")
	fs.StringVar(&c.TLSCert, "tls-cert", env.str("TLS_CERT_FILE", ""), "PEM certificate chain: with -tls-key, the traffic listener serves TLS; the admin listener stays plaintext ($TLS_CERT_FILE)")
	fs.StringVar(&c.TLSKey, "tls-key", env.str("TLS_KEY_FILE", ""), "PEM private key of -tls-cert ($TLS_KEY_FILE)")
	fs.DurationVar(&c.MaxConnAge, "max-conn-age", env.duration("MAX_CONNECTION_AGE", DefaultMaxConnAge), "end connections older than this (±10%) so that clients rebalance; 0 is off ($MAX_CONNECTION_AGE)")
	fs.DurationVar(&c.StreamEndWindow, "stream-end-window", env.duration("STREAM_END_WINDOW", DefaultStreamEndWindow), "end long-lived gRPC streams (HTTP: keep-alive connections) one after another over this window, not at once; 0 is off ($STREAM_END_WINDOW)")
	if env.err != nil {
		return Config{}, env.err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	c.Strategy = Strategy(strategy)
	return c, c.validate()
}

func (c Config) validate() error {
	var errs []error
	if c.GracePeriod <= 0 {
		errs = append(errs, fmt.Errorf("%w: -grace %v must be positive", ErrUsage, c.GracePeriod))
	}
	if c.Delay < 0 {
		errs = append(errs, fmt.Errorf("%w: -delay %v must not be negative", ErrUsage, c.Delay))
	}
	switch c.Strategy {
	case Lameduck, Shutdown, None:
	default:
		errs = append(errs, fmt.Errorf("%w: -strategy %q: want lameduck, shutdown or none", ErrUsage, c.Strategy))
	}
	if c.MaxConnAge < 0 || (c.MaxConnAge > 0 && c.MaxConnAge < MinMaxConnAge) {
		errs = append(errs, fmt.Errorf("%w: -max-conn-age %v: want 0 (off) or at least %v; ages of minutes suit most services", ErrUsage, c.MaxConnAge, MinMaxConnAge))
	}
	if c.StreamEndWindow < 0 {
		errs = append(errs, fmt.Errorf("%w: -stream-end-window %v must not be negative; 0 is off", ErrUsage, c.StreamEndWindow))
	}
	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		errs = append(errs, fmt.Errorf("%w: -tls-cert %q without -tls-key ($TLS_KEY_FILE): give both to serve TLS, or neither", ErrUsage, c.TLSCert))
	case c.TLSKey != "" && c.TLSCert == "":
		errs = append(errs, fmt.Errorf("%w: -tls-key %q without -tls-cert ($TLS_CERT_FILE): give both to serve TLS, or neither", ErrUsage, c.TLSKey))
	}
	return errors.Join(errs...)
}

// envDefaults reads flag defaults from the environment and keeps the
// first bad value.
type envDefaults struct {
	lookup func(string) (string, bool)
	err    error
}

func (e *envDefaults) str(key, def string) string {
	if v, ok := e.lookup(key); ok && v != "" {
		return v
	}
	return def
}

func (e *envDefaults) duration(key string, def time.Duration) time.Duration {
	v, ok := e.lookup(key)
	if !ok || v == "" {
		return def
	}
	d, err := ParseDuration(v)
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("%w: $%s=%q: %w", ErrUsage, key, v, err)
	}
	return d
}

// maxWholeSeconds is the largest number of whole seconds a time.Duration
// holds.
const maxWholeSeconds = math.MaxInt64 / int64(time.Second)

// ParseDuration parses a duration as shutdown.FromEnv reads
// SHUTDOWN_GRACE_PERIOD and SHUTDOWN_PROPAGATION_DELAY: a Go duration
// ("45s", "1m30s") or whole seconds ("45", as in
// terminationGracePeriodSeconds). Values a time.Duration cannot hold
// (about 292 years) are errors rather than wrapped, so that the services'
// flags and package shutdown agree on every value.
func ParseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n > maxWholeSeconds || n < -maxWholeSeconds {
			return 0, fmt.Errorf("out of range: want at most %d seconds", maxWholeSeconds)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New(`want a Go duration such as "45s" or whole seconds such as "45"`)
	}
	return d, nil
}
