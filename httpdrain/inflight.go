package httpdrain

import (
	"net/http"
	"sync/atomic"
	"unsafe"
)

// inflightStripes is the number of counters requests are spread over. A
// single counter shared by every core costs a contended cache line per
// request; stripes keyed by the request's address keep concurrent requests
// on different lines. Reads (rare) sum them all.
const inflightStripes = 32

// stripe is one counter on a cache line of its own.
type stripe struct {
	n atomic.Int64
	_ [56]byte
}

// inflight counts requests being served. Its zero value counts zero.
type inflight struct {
	stripes [inflightStripes]stripe
}

// enter counts r in and returns the counter to decrement when r is done.
// It never allocates.
func (f *inflight) enter(r *http.Request) *atomic.Int64 {
	// Requests are heap objects at least 64 bytes apart; the bits above the
	// size class spread concurrent requests over the stripes.
	i := (uintptr(unsafe.Pointer(r)) >> 8) % inflightStripes
	n := &f.stripes[i].n
	n.Add(1)
	return n
}

// load returns the number of requests being served. It is exact only when
// no request enters or leaves while it sums.
func (f *inflight) load() int64 {
	var sum int64
	for i := range f.stripes {
		sum += f.stripes[i].n.Load()
	}
	return sum
}
