package proc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStartStop starts a process that exits at SIGTERM and one that
// ignores it: the first stops cleanly, the second is killed after the
// timeout, which is an error. Each has its PID file and its log.
func TestStartStop(t *testing.T) {
	dir := t.TempDir()
	g := NewGroup(dir, t.Logf)
	quits, err := g.Start("quits", filepath.Join(dir, "quits.log"), []string{"GREETING=hello"}, "sh", "-c", `echo "$GREETING"; exec sleep 30`)
	require.NoError(t, err)
	stays, err := g.Start("stays", filepath.Join(dir, "stays.log"), nil, "sh", "-c", `trap "" TERM; echo ready; while :; do sleep 0.05; done`)
	require.NoError(t, err)
	assert.Equal(t, []*Proc{quits, stays}, g.Procs())
	for _, p := range g.Procs() {
		b, err := os.ReadFile(filepath.Join(dir, p.Name+".pid"))
		require.NoError(t, err)
		pid, err := strconv.Atoi(string(b))
		require.NoError(t, err)
		assert.Positive(t, pid)
	}
	for _, f := range []string{"quits.log", "stays.log"} {
		require.Eventually(t, func() bool {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			return len(b) > 0
		}, 10*time.Second, 10*time.Millisecond, "%s: no output", f)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "quits.log"))
	assert.Equal(t, "hello\n", string(b))
	assert.False(t, quits.Exited())
	assert.NoError(t, quits.Stop(10*time.Second))
	assert.True(t, quits.Exited())
	err = stays.Stop(300 * time.Millisecond)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "killed"), err)
	assert.True(t, stays.Exited())
	assert.NoError(t, stays.Stop(time.Second), "a second Stop is a no-op")
}

func TestTail(t *testing.T) {
	assert.Equal(t, "abc", Tail("abc", 3))
	assert.Equal(t, "...cd", Tail("abcd", 2))
}
