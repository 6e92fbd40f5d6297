package shutdown_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
)

// TestLogsOfAFailingRun: a run where a server fails at start, an
// after-drain step fails, one panics, one hangs, and code calls Fail once
// more. Every failure is logged in exactly one line, under the key "err",
// its text prefixed once by "shutdown: "; durations are Go duration
// strings; the trigger by the error has source "error".
func TestLogsOfAFailingRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs countingWriter
		seq, _ := newSequence(t, shutdown.WithLogger(logs.logger()), shutdown.WithGracePeriod(10*time.Second))
		release := make(chan struct{})
		defer close(release)
		errListen := errors.New("listen tcp :8080: bind: address already in use")
		seq.Serve("http", func() error { return errListen }, func(context.Context) error { return nil })
		seq.AfterDrain("db", func(context.Context) error { return errors.New("disk full") })
		seq.AfterDrain("cache", func(context.Context) error { panic("nil map") })
		seq.AfterDrain("journal", func(context.Context) error { <-release; return nil })
		seq.AfterDrain("late", func(context.Context) error { seq.Fail(errors.New("lease lost")); return nil })
		synctest.Wait() // the server has failed: before Wait, so no delay
		err := seq.Wait()
		require.Error(t, err)
		assert.Equal(t, "error", seq.Timeline().Source)

		// Wait's result: each error the sequence made once, with one
		// package prefix; the error given to Fail as it was given.
		for _, leaf := range strings.Split(err.Error(), "\n") {
			if leaf != "lease lost" {
				assert.Equal(t, 1, strings.Count(leaf, "shutdown: "), "doubled or missing prefix: %q", leaf)
			}
		}

		logs.mu.Lock()
		defer logs.mu.Unlock()
		var records []map[string]any
		for _, line := range logs.lines {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m), line)
			records = append(records, m)
			assert.NotContains(t, m, "error", "the error key is err: %s", line)
			for _, key := range []string{"delay", "budget", "duration", "total", "budget_left"} {
				if v, ok := m[key]; ok {
					s, isString := v.(string)
					require.True(t, isString, "%s is not a duration string: %s", key, line)
					_, perr := time.ParseDuration(s)
					assert.NoError(t, perr, "%s=%q: %s", key, s, line)
				}
			}
		}
		withErr := func(text string) []map[string]any {
			var found []map[string]any
			for _, m := range records {
				if e, ok := m["err"].(string); ok && strings.Contains(e, text) {
					found = append(found, m)
				}
			}
			return found
		}
		for _, tt := range []struct{ text, msg, err string }{
			{"address already in use", "shutdown: triggered", `shutdown: step "http": listen tcp :8080: bind: address already in use`},
			{"disk full", "shutdown: step failed", `shutdown: step "db": disk full`},
			{"nil map", "shutdown: step failed", `shutdown: step "cache": panic: nil map`},
			{`"journal"`, "shutdown: step abandoned", `shutdown: step "journal": abandoned at its deadline after `},
			{"lease lost", "shutdown: failed", "lease lost"},
		} {
			found := withErr(tt.text)
			require.Len(t, found, 1, "one line for the failure %q", tt.text)
			assert.Equal(t, tt.msg, found[0]["msg"])
			assert.Equal(t, "ERROR", found[0]["level"])
			assert.True(t, strings.HasPrefix(found[0]["err"].(string), tt.err), found[0]["err"])
		}
		triggered := withErr("address already in use")[0]
		assert.Equal(t, "error", triggered["source"])
		assert.Equal(t, "0s", triggered["delay"], "failed before Wait: no delay")
		assert.Contains(t, withErr("nil map")[0], "stack")

		var done map[string]any
		for _, m := range records {
			if m["msg"] == "shutdown: done" {
				done = m
			}
		}
		require.NotNil(t, done)
		assert.NotContains(t, done, "err", "the summary does not log the failures again")
		assert.Equal(t, float64(5), done["failures"])
	})
}
