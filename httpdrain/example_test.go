package httpdrain_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/lameduck/lameduck/httpdrain"
)

// trigger stands in for *shutdown.Sequence, the Lifecycle of a real
// service: its channel closes at SIGTERM.
type trigger chan struct{}

func (t trigger) Triggered() <-chan struct{} { return t }

// A server is drained after the trigger: the request in flight when the
// drain starts finishes, and the drain step returns nil once it has. With
// package shutdown, pass the sequence itself, httpdrain.New(srv, seq), and
// register d.Drain as the server's drain step with seq.Serve.
func Example() {
	lc := make(trigger)
	started := make(chan struct{})
	var d *httpdrain.Drainer
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-d.DrainStarted() // still at work when the drain starts
		io.WriteString(w, "done")
	})}
	d = httpdrain.New(srv, lc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	status := make(chan string, 1)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String(), "text/plain", strings.NewReader("job"))
		if err != nil {
			status <- err.Error()
			return
		}
		resp.Body.Close()
		status <- resp.Status
	}()
	<-started
	close(lc) // SIGTERM: the lame-duck phase starts

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("drain:", d.Drain(ctx))
	fmt.Println("response:", <-status)
	fmt.Println("serve:", <-served)
	// Output:
	// drain: <nil>
	// response: 200 OK
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
