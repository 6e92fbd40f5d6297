// Package store is the persistent state of the lameduck example services: an
// SQLite database (table requests, one row per acknowledged request) and an
// append-only journal file (one line per acknowledged request) written
// through a buffer. It exists to make "nothing acknowledged is lost"
// checkable: after the process exits, rows = journal lines = requests
// answered OK, and [Count] reads both.
//
// Each recorded request also has a follow-up job, accepted in memory by
// [Store.Enqueue] before the answer and done by the services' background
// worker, [Store.RunJobs], as one row of table jobs. The in-process queue is
// the common producer–consumer shape: its jobs are lost if the worker stops
// while handlers still feed it, which is what [CountJobs] shows after exit.
//
// What survives what. The database runs in WAL mode with synchronous=NORMAL:
// a commit is written to the WAL file with write(2) before [Store.Record]
// returns, so a committed row survives the process being killed (SIGKILL,
// a crash, exiting without cleanup) because the kernel holds it; only an
// operating-system crash or power loss can lose the last commits, which
// synchronous=FULL would prevent at the price of an fsync per request. The
// journal is different on purpose: its lines sit in a user-space buffer
// until [Store.CloseJournal] flushes and fsyncs it, so a process that dies
// without running its shutdown steps loses every line still buffered. That
// is the cost of the common "buffered writer, flushed at exit" pattern which
// the examples use to show whether the exit path actually ran.
//
// The close order matters and is the order a service registers its
// shutdown steps in: servers drain first (no new Record calls), then
// [Store.CloseDB], then [Store.CloseJournal]. Record calls that race a close
// fail with [ErrClosed] and record nothing, so the counts stay equal.
package store
