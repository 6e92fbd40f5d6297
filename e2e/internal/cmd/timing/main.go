// Command timing is the container the end-to-end tests terminate to time
// the kubelet. It reports each event as one line on a TCP connection to
// REPORT (HOST:PORT), where the test stamps it on arrival; when the process
// dies, even by SIGKILL, the kernel closes that connection, which stamps
// the death. Its first line is "start NAME pid=PID". It serves on
// 127.0.0.1:PORT:
//
//   - GET /readyz answers 200;
//   - GET /prestop reports "hook-start", sleeps HOOK_SLEEP, reports
//     "hook-end" and answers 200. With EXIT_IN_HOOK=answered it then
//     flushes the answer and exits 0 at once, reporting "exit": the process
//     is gone while the hook's caller is still reading its answer. With
//     EXIT_IN_HOOK=unanswered it exits 0 after HOOK_SLEEP without
//     answering: the hook's connection breaks;
//   - any other path reports "notfound PATH" and answers 404.
//
// At SIGTERM it reports "sigterm" and exits 0 after EXIT_DELAY, unless
// IGNORE_SIGTERM=1. With NO_HANDLER=1 it does not handle SIGTERM at all,
// as a Go program that never calls signal.Notify.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

type reporter struct {
	mu   sync.Mutex
	conn net.Conn
}

func (r *reporter) send(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.conn, format+"\n", args...)
}

func duration(name string) time.Duration {
	d, err := time.ParseDuration(os.Getenv(name))
	if err != nil && os.Getenv(name) != "" {
		fmt.Fprintf(os.Stderr, "timing: %s: %v\n", name, err)
		os.Exit(2)
	}
	return d
}

func main() {
	conn, err := net.Dial("tcp", os.Getenv("REPORT"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "timing: REPORT: %v\n", err)
		os.Exit(1)
	}
	r := &reporter{conn: conn}
	hookSleep, exitDelay := duration("HOOK_SLEEP"), duration("EXIT_DELAY")
	if os.Getenv("NO_HANDLER") != "1" {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		go func() {
			<-sigs
			r.send("sigterm")
			if os.Getenv("IGNORE_SIGTERM") == "1" {
				return
			}
			time.Sleep(exitDelay)
			r.send("exit")
			os.Exit(0)
		}()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {})
	exitInHook := os.Getenv("EXIT_IN_HOOK")
	mux.HandleFunc("GET /prestop", func(w http.ResponseWriter, req *http.Request) {
		r.send("hook-start %s", req.UserAgent())
		time.Sleep(hookSleep)
		r.send("hook-end")
		switch exitInHook {
		case "answered":
			w.Header().Set("Content-Length", "3")
			_, _ = w.Write([]byte("ok\n"))
			w.(http.Flusher).Flush()
		case "unanswered":
		default:
			return
		}
		r.send("exit")
		os.Exit(0)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		r.send("notfound %s", req.URL.Path)
		http.NotFound(w, req)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "timing: PORT: %v\n", err)
		os.Exit(1)
	}
	r.send("start %s pid=%d", os.Getenv("NAME"), os.Getpid())
	fmt.Fprintln(os.Stderr, (&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(ln))
	os.Exit(1)
}
