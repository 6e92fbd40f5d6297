package httpdrain_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
)

// A server is drained after the trigger: in-flight requests finish, the
// drain step returns nil. With package shutdown, triggered is
// seq.Triggered() and the step is registered with seq.Add("http", d.Drain).
func Example() {
	triggered := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hello")
	})}
	d, err := httpdrain.New(srv, triggered)
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	close(triggered) // SIGTERM: responses now carry Connection: close
	<-d.LameDuck()
	resp, err := http.Post("http://"+ln.Addr().String(), "text/plain", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "close:", resp.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("drain:", d.Drain(ctx))
	fmt.Println("serve:", <-served)
	// Output:
	// 200 OK close: true
	// drain: <nil>
	// serve: http: Server closed
}
