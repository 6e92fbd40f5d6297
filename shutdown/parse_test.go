package shutdown

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzParseDuration: whole seconds either parse to exactly n seconds or
// are rejected; nothing wraps.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"45", "45s", "10000000000", "36028797018963998", "9999999999999", "-1", "1m30s", "9223372036", "9223372037", "1e3", " 5", "+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, problem := parseDuration(s)
		if problem != "" {
			return
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			require.Equal(t, n, int64(d/time.Second), "%q parsed to %v", s, d)
			require.Zero(t, d%time.Second)
		}
	})
}
