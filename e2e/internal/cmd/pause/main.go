// Command pause is the pod sandbox's process: it sleeps until SIGTERM or
// SIGINT and then exits 0, like build/pause/linux/pause.c in
// kubernetes/kubernetes; as PID 1 of the sandbox it reaps nothing, since
// hostNetwork pods share no PID namespace with their containers here.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
