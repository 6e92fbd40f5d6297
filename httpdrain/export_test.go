package httpdrain

// LameDuckStarted returns a channel closed once d's HTTP/1 responses carry
// "Connection: close": soon after the trigger, or when the drain starts.
// Tests wait on it instead of on the trigger, which the Drainer's goroutine
// sees a moment later.
func LameDuckStarted(d *Drainer) <-chan struct{} { return d.lameDuck }
