package loadtest

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"
)

// MaxFirst is how many failures [Result.First] returns, besides the first
// of each reason.
const MaxFirst = 10

// Result is what the clients of one load saw.
type Result struct {
	Sent, OK  int
	Failures  map[string]int  // failed requests by [Reason]
	All       []Failure       // every failed request, in the order they ended
	Latencies []time.Duration // of the requests that succeeded, in the order they ended
}

// Failure is one failed request.
type Failure struct {
	Sent   time.Time // when it was sent
	At     time.Time // when it ended
	Reason string
	Err    error
}

func (f Failure) String() string {
	return f.At.UTC().Format("15:04:05.000") + " " + f.Err.Error()
}

// Failed is the number of requests that did not succeed, those still in
// flight included.
func (r *Result) Failed() int { return r.Sent - r.OK }

// First returns the first MaxFirst failures and the first of each reason
// after them, in the order they ended: what a log of the failures needs.
func (r *Result) First() []Failure {
	var first []Failure
	seen := map[string]bool{}
	for _, f := range r.All {
		if len(first) < MaxFirst || !seen[f.Reason] {
			first = append(first, f)
		}
		seen[f.Reason] = true
	}
	return first
}

// Example returns the message of the first failure for reason, or "".
func (r *Result) Example(reason string) string {
	for _, f := range r.All {
		if f.Reason == reason {
			return f.Err.Error()
		}
	}
	return ""
}

// Percentile returns the latency that p percent of the successful
// requests did not exceed (nearest rank), or 0 if none succeeded.
func (r *Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	l := slices.Sorted(slices.Values(r.Latencies))
	k := int(math.Ceil(float64(len(l)) * p / 100))
	return l[min(max(k, 1), len(l))-1]
}

// String is "sent N, ok N, failed N [Nx reason ...]".
func (r *Result) String() string {
	var reasons []string
	for _, k := range slices.Sorted(maps.Keys(r.Failures)) {
		reasons = append(reasons, fmt.Sprintf("%dx %s", r.Failures[k], k))
	}
	return fmt.Sprintf("sent %d, ok %d, failed %d %v", r.Sent, r.OK, r.Failed(), reasons)
}

// Tally counts requests as they are sent and end. It is safe for
// concurrent use; the zero value is empty and ready. [Run] counts with a
// Tally; a caller that sends requests itself (in a closed loop, or one at
// a time) can too.
type Tally struct {
	mu  sync.Mutex
	res Result
}

// Do sends one request with send, counts it and returns send's error.
func (t *Tally) Do(ctx context.Context, send func(context.Context) error) error {
	t.mu.Lock()
	t.res.Sent++
	t.mu.Unlock()
	start := time.Now()
	err := send(ctx)
	t.end(err, start)
	return err
}

func (t *Tally) end(err error, start time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		t.res.OK++
		t.res.Latencies = append(t.res.Latencies, time.Since(start))
		return
	}
	reason := Reason(err)
	if t.res.Failures == nil {
		t.res.Failures = map[string]int{}
	}
	t.res.All = append(t.res.All, Failure{Sent: start, At: time.Now(), Reason: reason, Err: err})
	t.res.Failures[reason]++
}

// Result returns a copy of the counts so far.
func (t *Tally) Result() *Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.res
	r.Failures = maps.Clone(r.Failures)
	if r.Failures == nil {
		r.Failures = map[string]int{}
	}
	r.All = slices.Clone(r.All)
	r.Latencies = slices.Clone(r.Latencies)
	return &r
}
