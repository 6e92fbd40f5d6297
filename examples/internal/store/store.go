package store

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver: no cgo
)

// File names inside the data directory.
const (
	DBFile      = "lameduck.db"
	JournalFile = "journal.log"
)

// ErrClosed is returned by [Store.Record] once [Store.CloseDB] or
// [Store.CloseJournal] has started: the request is not recorded.
var ErrClosed = errors.New("store: closed")

// pragmas are applied by the driver to every new connection. busy_timeout
// only matters to other processes opening the same file (the pool has a
// single connection).
const pragmas = "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)"

const schema = `CREATE TABLE IF NOT EXISTS requests (
	id  INTEGER PRIMARY KEY AUTOINCREMENT,
	at  TEXT NOT NULL,
	via TEXT NOT NULL
)`

// Store records acknowledged requests in the database and the journal. It
// is safe for concurrent use. Create it with [Open].
type Store struct {
	db *sql.DB

	mu      sync.Mutex // serialises Record with the closes; orders journal lines like ids
	closed  bool
	journal *os.File
	buf     *bufio.Writer

	jobs *queue
}

// Open creates dir if needed and opens (or creates) the database and the
// journal inside it. Existing rows and lines are kept; new ones are appended.
// The caller must call [Store.CloseDB] and [Store.CloseJournal], in that
// order, for the journal lines to reach the disk.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := openDB(filepath.Join(dir, DBFile))
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, JournalFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("store: %w", err), db.Close())
	}
	return &Store{db: db, journal: f, buf: bufio.NewWriter(f), jobs: newQueue()}, nil
}

func openDB(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+pragmas)
	if err != nil {
		return nil, fmt.Errorf("store: open database: %w", err)
	}
	// One connection: SQLite has a single writer anyway, and one connection
	// turns writer contention into waiting in the pool instead of
	// SQLITE_BUSY errors.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema + ";\n" + jobsSchema); err != nil {
		return nil, errors.Join(fmt.Errorf("store: create schema: %w", err), db.Close())
	}
	return db, nil
}

// Record inserts one row and appends one journal line for a request that is
// about to be acknowledged, and returns the row id. via names the protocol
// ("http", "grpc"). When Record returns nil the row is committed and the
// line is buffered; the line reaches the file no later than
// [Store.CloseJournal].
//
// ctx is deliberately not used to cancel the insert: a cancelled
// ExecContext can report an error for a statement that did commit, which
// would leave a row without its journal line. The insert is short.
//
// If the journal write fails after the commit (the disk is full), Record
// returns the error and the row stays: the only case where rows can exceed
// lines.
func (s *Store) Record(ctx context.Context, via string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	at := time.Now().UTC().Format(time.RFC3339Nano)
	res, err := s.db.ExecContext(context.WithoutCancel(ctx),
		"INSERT INTO requests (at, via) VALUES (?, ?)", at, via)
	if err != nil {
		return 0, fmt.Errorf("store: insert: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store: insert: %w", err)
	}
	if _, err := fmt.Fprintf(s.buf, "%d\t%s\t%s\n", id, at, via); err != nil {
		return 0, fmt.Errorf("store: journal: %w", err)
	}
	return id, nil
}

// Ping reports whether the database answers. It suits a readiness check.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// CloseDB stops recording and closes the database, which checkpoints the
// WAL into the database file. It waits for a Record in progress. It has the
// shape of a shutdown step; ctx is unused because closing SQLite is local
// and short. Calling it twice returns the error of sql.DB.Close, nil.
func (s *Store) CloseDB(context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close database: %w", err)
	}
	return nil
}

// CloseJournal stops recording, flushes the journal buffer, fsyncs the file
// and closes it. Until it runs, lines acknowledged since the last time the
// buffer filled are only in memory. It has the shape of a shutdown step; ctx
// is unused. It must be called once; a second call returns an error.
func (s *Store) CloseJournal(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return errors.Join(
		wrap("flush journal", s.buf.Flush()),
		wrap("sync journal", s.journal.Sync()),
		wrap("close journal", s.journal.Close()),
	)
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// Count reads the number of rows in the database and of lines in the
// journal (newline-terminated) of the data directory dir. It opens its own
// connection and may be used while a service runs or after it exited;
// after a crash, opening the database replays the WAL, as the service
// itself would. A missing journal counts as zero lines; a missing database
// is an error.
func Count(dir string) (rows, lines int, err error) {
	db, err := openToCount(dir)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	if err := db.QueryRow("SELECT count(*) FROM requests").Scan(&rows); err != nil {
		return 0, 0, fmt.Errorf("store: count rows: %w", err)
	}
	lines, err = countLines(filepath.Join(dir, JournalFile))
	return rows, lines, err
}

// openToCount opens the database of the data directory dir with a
// connection of its own, for [Count] and [CountJobs]. A missing database
// is an error.
func openToCount(dir string) (*sql.DB, error) {
	path := filepath.Join(dir, DBFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("store: open database: %w", err)
	}
	return db, nil
}

// countLines counts newline-terminated lines. A process killed while the
// buffer was being written can leave a torn last line; it is not a recorded
// request, so it does not count.
func countLines(path string) (int, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: read journal: %w", err)
	}
	return bytes.Count(data, []byte{'\n'}), nil
}
