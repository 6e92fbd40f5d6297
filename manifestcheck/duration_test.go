package manifestcheck

import (
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  error
	}{
		{"30", 30 * time.Second, nil},
		{"30s", 30 * time.Second, nil},
		{"1m30s", 90 * time.Second, nil},
		{"-5", -5 * time.Second, nil},
		{"9223372036", 9223372036 * time.Second, nil},
		{"9223372037", 0, errRange},
		{"99999999999999999999", 0, errRange}, // beyond int64
		{"2562048h", 0, errNotDuration},       // time.ParseDuration overflows
		{"30 s", 0, errNotDuration},
		{"thirty", 0, errNotDuration},
	}
	for _, tt := range tests {
		d, err := parseDuration(tt.in)
		assert.Equal(t, tt.want, d, tt.in)
		assert.Equal(t, tt.err, err, tt.in)
	}
}

// TestInStepWithShutdown reads the shutdown package's source, two
// directories up in the repository, to check that the names and defaults
// copied here have not drifted.
func TestInStepWithShutdown(t *testing.T) {
	src, err := os.ReadFile("../shutdown/config.go")
	require.NoError(t, err)
	for name, want := range map[string]string{
		"envGracePeriod":      envGracePeriod,
		"envPropagationDelay": envPropagationDelay,
		"envSafetyMargin":     envSafetyMargin,
	} {
		m := regexp.MustCompile(`\b` + name + `\s*=\s*"([^"]+)"`).FindSubmatch(src)
		require.NotNil(t, m, name)
		assert.Equal(t, want, string(m[1]), name)
	}
	for name, want := range map[string]time.Duration{
		"DefaultGracePeriod":      defaultGracePeriod,
		"DefaultPropagationDelay": defaultPropagationDelay,
		"DefaultSafetyMargin":     defaultSafetyMargin,
	} {
		m := regexp.MustCompile(`\b` + name + `\s*=\s*(\d+) \* time\.Second\b`).FindSubmatch(src)
		require.NotNil(t, m, name)
		n, err := strconv.Atoi(string(m[1]))
		require.NoError(t, err)
		assert.Equal(t, want, time.Duration(n)*time.Second, name)
	}
	assert.Contains(t, string(src), "maxWholeSeconds = math.MaxInt64 / int64(time.Second)")
}
