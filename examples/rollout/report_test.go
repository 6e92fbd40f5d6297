package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/internal/loadtest"
	"github.com/lameduck/lameduck/shutdown/shutdowntest"
)

func TestPrintTable(t *testing.T) {
	results := []*result{
		{
			scenario: scenario{Strategy: "none", Protocol: http1},
			Load: &loadResult{Result: &loadtest.Result{Sent: 100, OK: 90, Failures: map[string]int{"EOF": 7, "refused": 3},
				Latencies: []time.Duration{20 * time.Millisecond}}},
			Terminations: []termination{
				{Report: &shutdowntest.Report{ExitAfter: 10 * time.Millisecond}},
				{Report: &shutdowntest.Report{ExitAfter: 6 * time.Second, Killed: true}},
			},
			Stored: stored{Rows: 88, Lines: 85, Jobs: 80},
		},
		{
			scenario:     scenario{Strategy: "lameduck", Protocol: grpcP},
			Load:         &loadResult{Result: &loadtest.Result{Sent: 50, OK: 50, Latencies: []time.Duration{21 * time.Millisecond}}},
			Terminations: []termination{{Report: &shutdowntest.Report{ExitAfter: 1600 * time.Millisecond}}},
			Stored:       stored{Rows: 50, Lines: 50, Jobs: 50},
		},
		{
			// Page streams write nothing: lost does not apply.
			scenario: scenario{Strategy: "lameduck", Protocol: page},
			Load: &loadResult{Result: &loadtest.Result{Sent: 40, OK: 36, Failures: map[string]int{"truncated": 4},
				Latencies: []time.Duration{1500 * time.Millisecond}}, Truncated: 4},
			Terminations: []termination{{Report: &shutdowntest.Report{ExitAfter: 2 * time.Second}}},
		},
	}
	var b strings.Builder
	require.NoError(t, printTable(&b, results))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 4)
	assert.Equal(t, []string{"none", "HTTP/1.1", "100", "10", "EOF", "7,", "refused", "3", "-", "0", "20.0ms", "0.01s–6.00s", "1/2", "90", "5", "8"},
		strings.Fields(lines[1]))
	assert.Equal(t, []string{"lameduck", "gRPC", "50", "0", "-", "-", "0", "21.0ms", "1.60s", "0/1", "50", "0", "0"},
		strings.Fields(lines[2]))
	assert.Equal(t, []string{"lameduck", "gRPC", "Page", "stream", "40", "4", "truncated", "4", "4", "0", "1500.0ms", "2.00s", "0/1", "36", "-", "-"},
		strings.Fields(lines[3]))
}

func TestLost(t *testing.T) {
	assert.Equal(t, 0, lost(10, stored{Rows: 10, Lines: 10}))
	assert.Equal(t, 3, lost(10, stored{Rows: 9, Lines: 7}))
	assert.Equal(t, 0, lost(10, stored{Rows: 12, Lines: 11}), "extra rows (answered, not acknowledged) are not negative losses")
}

func TestJobsLost(t *testing.T) {
	assert.Equal(t, 0, jobsLost(stored{Rows: 10, Jobs: 10}))
	assert.Equal(t, 4, jobsLost(stored{Rows: 10, Jobs: 6}))
}
