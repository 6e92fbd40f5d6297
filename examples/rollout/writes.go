package main

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Data files of a copy, per the services' command-line contract.
const (
	dbFile      = "lameduck.db"
	journalFile = "journal.log"
)

// stored is what the copies' data directories hold after a scenario.
type stored struct {
	Rows  int // rows of table requests
	Lines int // lines of journal.log
}

// countStored adds up the writes found in every data directory. It opens
// the databases read-only; a directory without files counts zero.
func countStored(dirs []string) (stored, error) {
	var s stored
	for _, dir := range dirs {
		rows, err := countRows(filepath.Join(dir, dbFile))
		if err != nil {
			return s, err
		}
		lines, err := countLines(filepath.Join(dir, journalFile))
		if err != nil {
			return s, err
		}
		s.Rows += rows
		s.Lines += lines
	}
	return s, nil
}

func countRows(path string) (int, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, fmt.Errorf("rollout: open %s: %w", path, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM requests").Scan(&n); err != nil {
		return 0, fmt.Errorf("rollout: count rows in %s: %w", path, err)
	}
	return n, nil
}

func countLines(path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("rollout: read journal: %w", err)
	}
	return bytes.Count(b, []byte{'\n'}), nil
}

// lost is how many acknowledged writes are missing from the database or
// the journal, whichever lost more. A write the server stored but whose
// acknowledgement the client never received (a failed request) is not
// told apart from the others, so with failures this is a lower bound.
func lost(acked int, s stored) int {
	return max(0, acked-s.Rows, acked-s.Lines)
}
