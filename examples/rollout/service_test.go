package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseListening(t *testing.T) {
	want := endpoint{Addr: "127.0.0.1:4000", Admin: "127.0.0.1:4001"}
	for _, tc := range []struct {
		name, line string
		ok         bool
	}{
		{"plain", "listening addr=127.0.0.1:4000 admin=127.0.0.1:4001", true},
		{"slog text", `time=2026-01-02T03:04:05.000Z level=INFO msg=listening addr=127.0.0.1:4000 admin=127.0.0.1:4001`, true},
		{"slog json", `{"time":"2026-01-02T03:04:05Z","level":"INFO","msg":"listening","addr":"127.0.0.1:4000","admin":"127.0.0.1:4001"}`, true},
		{"other line", `level=INFO msg=ready addr=127.0.0.1:4000 admin=127.0.0.1:4001`, false},
		{"no admin", "listening addr=127.0.0.1:4000", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseListening(tc.line)
			assert.Equal(t, tc.ok, ok)
			if tc.ok {
				assert.Equal(t, want, got)
			}
		})
	}
}

func TestLineLog(t *testing.T) {
	var lines []string
	var out strings.Builder
	l := &lineLog{out: &out, onLine: func(s string) { lines = append(lines, s) }}
	l.Write([]byte("one\ntw"))
	l.Write([]byte("o\n"))
	for i := range 10 {
		l.Write([]byte{byte('a' + i), '\n'})
	}
	assert.Equal(t, []string{"one", "two", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, lines)
	assert.Equal(t, "one\ntwo\na\nb\nc\nd\ne\nf\ng\nh\ni\nj\n", out.String())
	assert.Equal(t, "f | g | h | i | j", l.Last())
}
