// Package hook carries the configuration of a shutdown.Sequence that only
// tests set: where its signals come from and what a forced exit does.
// Package shutdown fills in [Option] when it is initialised; package
// shutdowntest and shutdown's own tests call it. Programs have no use for
// it, and being internal, they cannot reach it.
package hook

import "os"

// Settings replace what a Sequence does with the process itself.
type Settings struct {
	// Signals, when not nil, is read instead of subscribing to the
	// process's signals with os/signal; shutdown.WithSignals is then
	// ignored. Closing it means no more signals.
	Signals <-chan os.Signal
	// Exit, when not nil, is called instead of os.Exit to force an exit,
	// with code 1. If it returns, Wait returns shutdown.ErrForcedExit.
	Exit func(code int)
}

// Option returns a shutdown.Option (as any, since this package cannot
// import shutdown) that applies s. Package shutdown sets it in its init
// function, so it is set in any program that imports shutdown.
var Option func(s Settings) any
