package store_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/lameduck/lameduck/examples/internal/store"
)

func Example() {
	dir, err := os.MkdirTemp("", "store-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		if _, err := s.Record(ctx, "http"); err != nil {
			log.Fatal(err)
		}
	}
	rows, lines, _ := store.Count(dir)
	fmt.Printf("before close: rows=%d lines=%d\n", rows, lines)

	// The order a service registers as shutdown steps, after its servers.
	if err := s.CloseDB(ctx); err != nil {
		log.Fatal(err)
	}
	if err := s.CloseJournal(ctx); err != nil {
		log.Fatal(err)
	}
	rows, lines, _ = store.Count(dir)
	fmt.Printf("after close: rows=%d lines=%d\n", rows, lines)
	// Output:
	// before close: rows=3 lines=0
	// after close: rows=3 lines=3
}
