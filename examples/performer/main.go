// Command performer is a sample Hourglass performer: a gRPC server with the PerformerService of
// github.com/Layr-Labs/protocol-apis whose task squares a decimal integer, the standard gRPC
// health service, and a keepalive policy that accepts the executor's pings every 10 s. See
// README.md.
//
//	performer --addr=:8080
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/hourglass-gitops/hourglass-gitops/api/version"
)

func main() {
	addr := flag.String("addr", defaultAddr(), "Address the gRPC server listens on; default :$GRPC_PORT, or :8080 (the executor dials the performers it deploys on 8080).")
	showVersion := flag.Bool("version", false, "Print the version and exit.")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.String("performer"))
		return
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "performer: --addr: %v\n", err)
		os.Exit(1)
	}
	s := NewServer()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		log.Info("shutting down")
		s.GracefulStop()
	}()
	log.Info("serving", "addr", l.Addr().String(), "version", version.Get())
	if err := s.Serve(l); err != nil {
		log.Error("stopped", "error", err.Error())
		os.Exit(1)
	}
}

// defaultAddr listens on GRPC_PORT, which the executor and the Performer controller set to the
// port the performer's Service and probes use, or on 8080.
func defaultAddr() string {
	if p := os.Getenv("GRPC_PORT"); p != "" {
		return ":" + p
	}
	return ":8080"
}
