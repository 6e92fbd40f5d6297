package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

const jobsSchema = `CREATE TABLE IF NOT EXISTS jobs (
	request_id INTEGER PRIMARY KEY,
	at         TEXT NOT NULL
)`

// queue is the in-process job queue: request ids whose follow-up job has
// been accepted and not yet done. Adding never blocks and never fails, so a
// handler that recorded its request can always answer OK.
type queue struct {
	mu    sync.Mutex
	ids   []int64
	ready chan struct{} // one token: ids may be non-empty
}

func newQueue() *queue { return &queue{ready: make(chan struct{}, 1)} }

func (q *queue) add(id int64) {
	q.mu.Lock()
	q.ids = append(q.ids, id)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take removes and returns every queued id.
func (q *queue) take() []int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids := q.ids
	q.ids = nil
	return ids
}

// Enqueue accepts the follow-up job of the request recorded as id (its
// entry in table jobs, written by [Store.RunJobs]). It never blocks and
// never fails: once a handler has called it, the job is accepted, and it is
// lost only if the worker stops before the handlers that feed it.
func (s *Store) Enqueue(id int64) { s.jobs.add(id) }

// Pending returns the number of accepted jobs not yet done.
func (s *Store) Pending() int {
	s.jobs.mu.Lock()
	defer s.jobs.mu.Unlock()
	return len(s.jobs.ids)
}

// RunJobs is the services' background worker: it does the queued jobs, one
// row in table jobs each, until ctx is done, then does the jobs still
// queued at that moment and returns nil. Jobs enqueued after it returned
// stay undone: a service must stop it only once nothing feeds the queue
// any more, after the drain of its servers. It returns an error if a job
// cannot be written.
func (s *Store) RunJobs(ctx context.Context) error {
	for {
		select {
		case <-s.jobs.ready:
			if err := s.doJobs(); err != nil {
				return err
			}
		case <-ctx.Done():
			return s.doJobs()
		}
	}
}

func (s *Store) doJobs() error {
	for _, id := range s.jobs.take() {
		at := time.Now().UTC().Format(time.RFC3339Nano)
		if _, err := s.db.Exec("INSERT INTO jobs (request_id, at) VALUES (?, ?)", id, at); err != nil {
			return fmt.Errorf("store: job for request %d: %w", id, err)
		}
	}
	return nil
}

// CountJobs reads the number of jobs done in the data directory dir, with
// a connection of its own, like [Count]; a missing database is an error.
func CountJobs(dir string) (int, error) {
	db, err := openToCount(dir)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM jobs").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count jobs: %w", err)
	}
	return n, nil
}
