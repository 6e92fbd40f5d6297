package shutdown

import (
	"fmt"
	"slices"
)

// A GoOption configures a goroutine run with [Sequence.Go].
type GoOption func(*goOptions)

type goOptions struct {
	stopAfter []string
}

// StopAfter makes a goroutine run with [Sequence.Go] stop only after the
// servers run with [Sequence.Serve] under the given names: its context is
// cancelled, with cause [ErrServersDrained], once the drains and serve
// calls of all of them have returned, instead of at the trigger. It is for
// workers that those servers feed, such as the consumer of a queue that
// request handlers fill, so that nothing the servers accepted is left in
// the queue. The goroutine is still awaited within the drains' time,
// before the after-drain steps; if the servers' drains have not all returned by
// then, its context is cancelled when that time is over.
//
//	seq.Serve("http", serveHTTP, drainHTTP)
//	seq.Go("jobs", consume, shutdown.StopAfter("http"))
//
// The names are matched when the drains start, since Serve may be called
// after Go. A name that matches no server is a mistake in the program that
// the sequence can only see while it runs: rather than stopping the
// shutdown with a panic, Wait reports it, it is logged at ERROR, and the
// goroutine waits for every server, so that no accepted work is lost.
//
// StopAfter panics if it is given no name or an empty one.
func StopAfter(servers ...string) GoOption {
	if len(servers) == 0 || slices.Contains(servers, "") {
		panic(fmt.Sprintf("shutdown: StopAfter(%q): pass the names of the servers given to Serve", servers))
	}
	servers = slices.Clone(servers)
	return func(o *goOptions) { o.stopAfter = append(o.stopAfter, servers...) }
}

// linkStopAfter points each worker run with StopAfter at the servers it
// names, and returns an error for each name that matches no server; such
// a worker waits for every server.
func linkStopAfter(members []*member) []error {
	byName := map[string][]*member{}
	var servers []*member
	for _, m := range members {
		if !m.worker {
			byName[m.name] = append(byName[m.name], m)
			servers = append(servers, m)
		}
	}
	var errs []error
	for _, m := range members {
		m.after = nil
		unknown := false
		for _, name := range m.stopAfter {
			found, ok := byName[name]
			if !ok {
				errs = append(errs, fmt.Errorf("shutdown: step %q: StopAfter(%q) names no server run with Serve, so it stopped after every server: pass a name given to Serve", m.name, name))
				unknown = true
			}
			m.after = append(m.after, found...)
		}
		if unknown {
			m.after = servers
		}
	}
	return errs
}

// stopAfterDrains cancels the context of each worker run with StopAfter
// once the servers it names have drained, or when over is closed,
// whichever comes first. The goroutines it starts end by then.
func stopAfterDrains(members []*member, over <-chan struct{}) {
	for _, m := range members {
		if m.stop == nil {
			continue
		}
		go func() {
			defer m.stop(ErrServersDrained)
			for _, srv := range m.after {
				select {
				case <-srv.drained:
				case <-over:
					return
				}
			}
		}()
	}
}
