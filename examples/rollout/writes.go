package main

import "github.com/lameduck/lameduck/examples/internal/store"

// stored is what the copies' data directories hold after a scenario.
type stored struct {
	Rows  int // rows of table requests
	Lines int // lines of journal.log
	Jobs  int // rows of table jobs: follow-up jobs done by the worker
}

// countStored adds up the writes found in every data directory, with the
// services' own store.Count.
func countStored(dirs []string) (stored, error) {
	var s stored
	for _, dir := range dirs {
		rows, lines, err := store.Count(dir)
		if err != nil {
			return s, err
		}
		jobs, err := store.CountJobs(dir)
		if err != nil {
			return s, err
		}
		s.Rows += rows
		s.Lines += lines
		s.Jobs += jobs
	}
	return s, nil
}

// lost is how many acknowledged writes are missing from the database or
// the journal, whichever lost more. A write the server stored but whose
// acknowledgement the client never received (a failed request) is not
// told apart from the others, so with failures this is a lower bound.
func lost(acked int, s stored) int {
	return max(0, acked-s.Rows, acked-s.Lines)
}

// jobsLost is how many accepted follow-up jobs were never done: each
// recorded request enqueued one job, which the worker writes as a row of
// table jobs.
func jobsLost(s stored) int {
	return max(0, s.Rows-s.Jobs)
}
