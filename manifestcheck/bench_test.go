package manifestcheck_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lameduck/lameduck/manifestcheck"
)

func BenchmarkCheck(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(examples, "http.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := manifestcheck.Check("http.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
