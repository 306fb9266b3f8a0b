// Command gitserver serves the bare Git repositories of a folder over smart HTTP on a loopback
// address until it is stopped. The demo runs it detached, so that Flux keeps syncing from it
// after the demo has exited.
//
//	gitserver DIR 127.0.0.1:PORT
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/gitserver"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gitserver DIR 127.0.0.1:PORT")
		os.Exit(2)
	}
	s, err := gitserver.StartAt(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("serving %s at http://%s/\n", os.Args[1], s.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	_ = s.Close()
}
