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

// trigger stands in for *shutdown.Sequence, the Lifecycle of a real
// service: its channel closes at SIGTERM.
type trigger chan struct{}

func (t trigger) Triggered() <-chan struct{} { return t }

// A server is drained after the trigger: in-flight requests finish, the
// drain step returns nil. With package shutdown, pass the sequence itself,
// httpdrain.New(srv, seq), and run d.Drain as the server's drain step.
func Example() {
	lc := make(trigger)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hello")
	})}
	d := httpdrain.New(srv, lc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	close(lc) // SIGTERM: HTTP/1 responses now carry Connection: close
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

// Replacing the handler after New would bypass the Drainer: wrap the new
// one with the Drainer's middleware instead.
func ExampleDrainer_Middleware() {
	srv := &http.Server{}
	d := httpdrain.New(srv, make(trigger))
	srv.Handler = d.Middleware(http.NotFoundHandler())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("drain:", d.Drain(ctx))
	// Output:
	// drain: <nil>
}

// Keep-alive connections are recycled so that clients spread onto servers
// that came up after them: here after two requests; in production, after
// an age of minutes with WithMaxConnectionAge.
func ExampleWithMaxConnectionRequests() {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hello")
	})}
	d := httpdrain.New(srv, make(trigger), httpdrain.WithMaxConnectionRequests(2))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(ln)

	for range 2 {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			fmt.Println(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Status, "close:", resp.Close)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("drain:", d.Drain(ctx))
	// Output:
	// 200 OK close: false
	// 200 OK close: true
	// drain: <nil>
}
