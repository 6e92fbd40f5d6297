package store_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/examples/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func closeAll(t *testing.T, s *store.Store) {
	t.Helper()
	require.NoError(t, s.CloseDB(context.Background()))
	require.NoError(t, s.CloseJournal(context.Background()))
}

func TestRecordConcurrentKeepsCountsEqual(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	require.NoError(t, err)

	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.Record(context.Background(), "test")
			assert.NoError(t, err)
		})
	}
	wg.Wait()

	rows, lines, err := store.Count(dir)
	require.NoError(t, err)
	assert.Equal(t, n, rows, "rows are committed before Record returns")
	assert.Zero(t, lines, "50 short lines fit in the buffer: nothing reaches the file before CloseJournal")

	closeAll(t, s)
	rows, lines, err = store.Count(dir)
	require.NoError(t, err)
	assert.Equal(t, n, rows)
	assert.Equal(t, n, lines)
}

func TestJournalLinesFollowIDs(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	require.NoError(t, err)
	var ids []int64
	for range 5 {
		id, err := s.Record(context.Background(), "http")
		require.NoError(t, err)
		ids = append(ids, id)
	}
	closeAll(t, s)

	f, err := os.Open(filepath.Join(dir, store.JournalFile))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	var got []int64
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		require.Len(t, fields, 3, "line %q", sc.Text())
		assert.Equal(t, "http", fields[2])
		id, err := strconv.ParseInt(fields[0], 10, 64)
		require.NoError(t, err)
		got = append(got, id)
	}
	require.NoError(t, sc.Err())
	assert.Equal(t, ids, got)
	assert.Equal(t, []int64{1, 2, 3, 4, 5}, got)
}

func TestRecordAfterCloseRecordsNothing(t *testing.T) {
	tests := []struct {
		name        string
		first, then func(*store.Store, context.Context) error
	}{
		{"after CloseDB", (*store.Store).CloseDB, (*store.Store).CloseJournal},
		{"after CloseJournal", (*store.Store).CloseJournal, (*store.Store).CloseDB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := store.Open(dir)
			require.NoError(t, err)
			_, err = s.Record(context.Background(), "test")
			require.NoError(t, err)
			require.NoError(t, tt.first(s, context.Background()))

			_, err = s.Record(context.Background(), "test")
			require.ErrorIs(t, err, store.ErrClosed)

			require.NoError(t, tt.then(s, context.Background()))
			rows, lines, err := store.Count(dir)
			require.NoError(t, err)
			assert.Equal(t, 1, rows)
			assert.Equal(t, 1, lines)
		})
	}
}

func TestRecordIgnoresCancelledContext(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Record(ctx, "test")
	require.NoError(t, err, "a started record must not be abandoned halfway")
	closeAll(t, s)
	rows, lines, err := store.Count(dir)
	require.NoError(t, err)
	assert.Equal(t, 1, rows)
	assert.Equal(t, 1, lines)
}

func TestOpenAppendsToExistingData(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		s, err := store.Open(dir)
		require.NoError(t, err)
		require.NoError(t, s.Ping(context.Background()))
		_, err = s.Record(context.Background(), "test")
		require.NoError(t, err)
		closeAll(t, s)
	}
	rows, lines, err := store.Count(dir)
	require.NoError(t, err)
	assert.Equal(t, 2, rows)
	assert.Equal(t, 2, lines)
	assert.NoFileExists(t, filepath.Join(dir, store.DBFile+"-wal"), "closing checkpoints the WAL")
}

func TestOpenCreatesNestedDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := store.Open(dir)
	require.NoError(t, err)
	closeAll(t, s)
	assert.FileExists(t, filepath.Join(dir, store.DBFile))
	assert.FileExists(t, filepath.Join(dir, store.JournalFile))
}

func TestOpenFailsOnFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err := store.Open(file)
	require.ErrorContains(t, err, "store: ")
}

func TestCountMissingDatabase(t *testing.T) {
	_, _, err := store.Count(t.TempDir())
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestCountIgnoresTornLastLine(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	require.NoError(t, err)
	closeAll(t, s)
	require.NoError(t, os.WriteFile(filepath.Join(dir, store.JournalFile), []byte("1\tx\thttp\n2\tx\tht"), 0o644))
	_, lines, err := store.Count(dir)
	require.NoError(t, err)
	assert.Equal(t, 1, lines)
}

func TestRunJobsDoesQueuedJobsThenStops(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunJobs(ctx) }()

	for id := range int64(20) {
		s.Enqueue(id)
	}
	require.Eventually(t, func() bool {
		n, err := store.CountJobs(dir)
		return err == nil && n == 20
	}, 10*time.Second, 5*time.Millisecond, "queued jobs are done while the worker runs")

	// Stopped with jobs still queued: those are done before it returns.
	cancel()
	for id := range int64(10) {
		s.Enqueue(100 + id)
	}
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("RunJobs did not return after its context ended")
	}
	n, err := store.CountJobs(dir)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 20)
	// Jobs enqueued once the worker has returned are never done: the loss a
	// service avoids by stopping its worker after the servers that feed it.
	s.Enqueue(1000)
	assert.Equal(t, 1+30-n, s.Pending())
	closeAll(t, s)
}
