package httpdrain_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
)

// A server-sent events stream ends cleanly when the drain starts: the
// handler sends a last event and returns, and the client, seeing the end
// of the stream, would reconnect through the load balancer to a server
// that is not draining.
func ExampleStreamContext() {
	opened := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, stop := httpdrain.StreamContext(r.Context())
		defer stop()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: hello\n\n")
		http.NewResponseController(w).Flush()
		close(opened)
		<-ctx.Done() // a real stream also sends its events here
		fmt.Fprintf(w, "event: bye\ndata: %v\n\n", context.Cause(ctx))
	})}
	d := httpdrain.New(srv, make(trigger))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	resp, err := http.Post("http://"+ln.Addr().String()+"/events", "text/plain", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	<-opened
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		drained <- d.Drain(ctx)
	}()
	b, err := io.ReadAll(bufio.NewReader(resp.Body))
	fmt.Printf("%s", b)
	fmt.Println("read:", err)
	fmt.Println("drain:", <-drained)
	fmt.Println("serve:", <-served)
	// Output:
	// data: hello
	//
	// event: bye
	// data: httpdrain: server is draining
	//
	// read: <nil>
	// drain: <nil>
	// serve: http: Server closed
}
