package loadtest_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/lameduck/lameduck/internal/loadtest"
)

// Any func that sends one request and never retries is a lane: here one
// request in four fails with a reason of its own.
func ExampleRun() {
	var n atomic.Int64
	send := func(context.Context) error {
		if n.Add(1)%4 == 0 {
			return &loadtest.Error{Reason: "503", Err: errors.New("status 503 Service Unavailable")}
		}
		return nil
	}
	res, err := loadtest.Run(context.Background(), loadtest.Config{Rate: 1000, Max: 8}, send)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res)
	fmt.Println(res.Example("503"))
	// Output:
	// sent 8, ok 6, failed 2 [2x 503]
	// status 503 Service Unavailable
}
