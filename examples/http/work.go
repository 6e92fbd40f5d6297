package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lameduck/lameduck/examples/internal/store"
)

// workHandler serves /work?d=DURATION for any method: it waits d, ending
// early when the request's context ends, then records the request (one row,
// one journal line) and answers 200. A request that is not answered 200 is
// not recorded, so rows = journal lines = 200 answers.
func workHandler(st *store.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := parseWait(r.URL.Query().Get("d"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := wait(r, d); err != nil {
			// The client is gone or the server forced the connection shut:
			// nobody reads this answer.
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		id, err := st.Record(r.Context(), "http")
		if errors.Is(err, store.ErrClosed) {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		st.Enqueue(id) // the follow-up job, done by the worker (store.RunJobs)
		fmt.Fprintf(w, "ok id=%d\n", id)
	})
}

// parseWait parses the d parameter: a Go duration, zero when absent.
func parseWait(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad d=%q: want a Go duration such as 250ms", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("bad d=%q: must not be negative", s)
	}
	return d, nil
}

func wait(r *http.Request, d time.Duration) error {
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.Context().Done():
		return context.Cause(r.Context())
	}
}
