// Command performer-forwarder runs beside the Hourglass executor, as a native sidecar in its pod,
// and forwards TCP connections from loopback ports to the performers' Services.
//
// The executor dials a performer in plaintext only when the address contains "127.0.0.1:" or
// "localhost:", and performers serve plaintext gRPC. So each AVS in the executor configuration
// gets kubernetes.endpointOverride 127.0.0.1:<port>, and this program carries the bytes from that
// port to the performer's Service as they are: gRPC streams, metadata, deadlines and HTTP/2 pass
// through untouched because nothing above TCP is looked at.
//
//	performer-forwarder \
//	  --route=127.0.0.1:9101=performer-my-avs.my-avs-project.svc.cluster.local:9090 \
//	  --health-addr=:9100
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hourglass-gitops/hourglass-gitops/api/version"
)

type config struct {
	routes        []route
	healthAddr    string
	limits        limits
	healthMax     int
	shutdownGrace time.Duration
	logLevel      slog.Level
	version       bool
}

// Defaults sized for the sidecar's 64Mi memory limit; see the bounds test for the figures.
const (
	defaultMaxConnections       = 128
	defaultIdleTimeout          = 5 * time.Minute
	defaultHealthMaxConnections = 8
)

func parseFlags(args []string, output io.Writer) (config, error) {
	cfg := config{}
	fs := flag.NewFlagSet("performer-forwarder", flag.ContinueOnError)
	fs.Var((*routeFlag)(&cfg.routes), "route", "`LISTEN=TARGET`: accept on the LISTEN host:port and forward each connection to the TARGET host:port (repeatable).")
	fs.StringVar(&cfg.healthAddr, "health-addr", ":9100", "Address of the HTTP /healthz and /readyz endpoints; /readyz answers 200 once every route listens.")
	fs.DurationVar(&cfg.limits.dialTimeout, "dial-timeout", 5*time.Second, "How long to wait for a connection to the target; the client's connection is closed if it fails.")
	fs.IntVar(&cfg.limits.maxConns, "max-connections", defaultMaxConnections, "Connections each route forwards at once; more are reset as they arrive.")
	fs.DurationVar(&cfg.limits.idleTimeout, "idle-timeout", defaultIdleTimeout, "A forwarded connection that carries no byte either way for this long is closed (gRPC keepalive pings count).")
	fs.IntVar(&cfg.healthMax, "health-max-connections", defaultHealthMaxConnections, "Connections the health endpoint holds at once; a new one closes the oldest that has no request in progress.")
	fs.DurationVar(&cfg.shutdownGrace, "shutdown-grace", 20*time.Second, "After SIGTERM, how long open connections may keep going before they are closed.")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "Log level: debug (one line per connection), info, warn or error.")
	fs.BoolVar(&cfg.version, "version", false, "Print the version and exit.")
	// Parse errors are returned, not printed with the whole usage; -h prints the usage.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(output, "Usage: performer-forwarder --route=LISTEN=TARGET [--route=...] [flags]\n\n"+
				"Forwards TCP connections from local ports to performer Services, so that the Hourglass\n"+
				"executor reaches its performers at 127.0.0.1:<port> in plaintext.\n\nFlags:\n")
			fs.SetOutput(output)
			fs.PrintDefaults()
		}
		return cfg, err
	}
	if cfg.version {
		return cfg, nil
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q: give every route as --route=LISTEN=TARGET", fs.Args())
	}
	if len(cfg.routes) == 0 {
		return cfg, errors.New("--route: at least one route is required, e.g. --route=127.0.0.1:9101=performer-my-avs.my-avs-project.svc.cluster.local:9090")
	}
	if cfg.healthAddr == "" {
		return cfg, errors.New("--health-addr: must not be empty")
	}
	if cfg.limits.dialTimeout <= 0 {
		return cfg, fmt.Errorf("--dial-timeout: must be positive, got %s", cfg.limits.dialTimeout)
	}
	if cfg.limits.maxConns < 1 {
		return cfg, fmt.Errorf("--max-connections: must be at least 1, got %d", cfg.limits.maxConns)
	}
	if cfg.limits.idleTimeout <= 0 {
		return cfg, fmt.Errorf("--idle-timeout: must be positive, got %s", cfg.limits.idleTimeout)
	}
	if cfg.healthMax < 1 {
		return cfg, fmt.Errorf("--health-max-connections: must be at least 1, got %d", cfg.healthMax)
	}
	if cfg.shutdownGrace < 0 {
		return cfg, fmt.Errorf("--shutdown-grace: must not be negative, got %s", cfg.shutdownGrace)
	}
	return cfg, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "performer-forwarder: %v\n", err)
		os.Exit(2)
	}
	if cfg.version {
		fmt.Println(version.String("performer-forwarder"))
		return
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("stopped", "error", err.Error())
		os.Exit(1)
	}
}

// run forwards until ctx is done, then stops accepting and lets open connections finish for up
// to the grace period.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	// Routes first: once the health endpoint answers at all, every route listens, so a startup
	// probe on /healthz or /readyz holds the executor back until its performers are reachable.
	f := newForwarder(cfg.routes, cfg.limits, log)
	if err := f.Listen(); err != nil {
		return err
	}
	health, err := startHealth(cfg.healthAddr, cfg.healthMax, f.Ready, log)
	if err != nil {
		f.Shutdown(0)
		return err
	}
	defer health.Close()
	for _, r := range f.routes {
		log.Info("forwarding", "listen", r.listener.Addr().String(), "target", r.target)
	}
	f.Serve()
	log.Info("ready", "routes", len(f.routes), "healthAddr", health.Addr)

	<-ctx.Done()
	log.Info("shutting down", "openConnections", f.OpenConnections(), "grace", cfg.shutdownGrace.String())
	if closed := f.Shutdown(cfg.shutdownGrace); closed > 0 {
		log.Warn("grace period over, closed open connections", "connections", closed)
	}
	log.Info("stopped")
	return nil
}
