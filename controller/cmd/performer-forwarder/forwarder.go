package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// route is one --route: connections accepted on listen go to target.
type route struct {
	listen string
	target string
}

// served is a route the forwarder listens on, with its counts.
type served struct {
	route
	listener net.Listener

	open        atomic.Int64 // connections being forwarded; only accept adds
	refused     atomic.Int64 // connections reset because open was at the cap
	idleClosed  atomic.Int64 // connections closed by the idle timeout
	lastCapWarn time.Time    // accept's own
}

// parseRoute reads LISTEN=TARGET, both host:port. The target host is usually a Service's DNS
// name; it is resolved again for every connection, so a Service that changes address is followed.
func parseRoute(s string) (route, error) {
	listen, target, ok := strings.Cut(s, "=")
	if !ok || strings.Contains(target, "=") {
		return route{}, errors.New("want LISTEN=TARGET, e.g. 127.0.0.1:9101=performer-my-avs.my-avs-project.svc.cluster.local:9090")
	}
	if err := checkHostPort(listen, false); err != nil {
		return route{}, fmt.Errorf("listen address: %w", err)
	}
	if err := checkHostPort(target, true); err != nil {
		return route{}, fmt.Errorf("target address: %w", err)
	}
	return route{listen: listen, target: target}, nil
}

func checkHostPort(addr string, needHost bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if needHost && host == "" {
		return fmt.Errorf("%q has no host", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port must be a number from 1 to 65535", addr)
	}
	return nil
}

// routeFlag collects repeated --route flags.
type routeFlag []route

// String shows the routes as the flags give them, comma-separated.
func (f *routeFlag) String() string {
	if f == nil {
		return ""
	}
	var s []string
	for _, r := range *f {
		s = append(s, r.listen+"="+r.target)
	}
	return strings.Join(s, ",")
}

// Set adds one --route LISTEN=TARGET, refusing a listen address given twice.
func (f *routeFlag) Set(v string) error {
	r, err := parseRoute(v)
	if err != nil {
		return err
	}
	for _, have := range *f {
		if have.listen == r.listen {
			return fmt.Errorf("listen address %s is already used by --route=%s=%s", r.listen, have.listen, have.target)
		}
	}
	*f = append(*f, r)
	return nil
}

// limits bound what a route holds: a flood of connections, or clients that leave without
// closing, must not take the sidecar's memory or file descriptors.
type limits struct {
	dialTimeout time.Duration
	// maxConns is how many connections one route forwards at once; more are reset at once.
	maxConns int
	// idleTimeout closes a connection that carried no byte either way for this long.
	idleTimeout time.Duration
}

// forwarder accepts on every route and copies bytes both ways between each accepted connection
// and a fresh connection to the route's target.
type forwarder struct {
	routes []*served
	limits limits
	log    *slog.Logger

	ready   atomic.Bool
	accepts sync.WaitGroup
	open    sync.WaitGroup // connections being forwarded

	// dials is cancelled at the end of shutdown so that no dial outlives it.
	dials      context.Context
	stopDials  context.CancelFunc
	mu         sync.Mutex
	conns      map[net.Conn]struct{}
	stopAccept bool
}

func newForwarder(routes []route, lim limits, log *slog.Logger) *forwarder {
	f := &forwarder{limits: lim, log: log, conns: map[net.Conn]struct{}{}}
	for _, r := range routes {
		f.routes = append(f.routes, &served{route: r})
	}
	f.dials, f.stopDials = context.WithCancel(context.Background())
	return f
}

// Listen binds every route's address, or none: a route that cannot listen is an error for the
// whole program, so that the pod does not run half of its routes.
func (f *forwarder) Listen() error {
	for i, r := range f.routes {
		l, err := net.Listen("tcp", r.listen)
		if err != nil {
			for _, bound := range f.routes[:i] {
				bound.listener.Close()
			}
			return fmt.Errorf("--route %s=%s: %w", r.listen, r.target, err)
		}
		r.listener = l
	}
	return nil
}

// Serve accepts on every bound route and reports ready.
func (f *forwarder) Serve() {
	for _, r := range f.routes {
		f.accepts.Add(1)
		go f.accept(r)
	}
	f.ready.Store(true)
}

// Ready tells whether every route listens and no shutdown has begun.
func (f *forwarder) Ready() bool { return f.ready.Load() }

// OpenConnections counts the client connections being forwarded.
func (f *forwarder) OpenConnections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for c := range f.conns {
		if _, ok := c.(clientConn); ok {
			n++
		}
	}
	return n
}

// clientConn marks the accepted side of a forwarded pair in the connection set.
type clientConn struct{ net.Conn }

func (f *forwarder) accept(r *served) {
	defer f.accepts.Done()
	var backoff time.Duration
	for {
		c, err := r.listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			f.log.Error("accept failed", "listen", r.listen, "target", r.target, "error", err.Error(), "retryIn", backoff.String())
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if r.open.Load() >= int64(f.limits.maxConns) {
			f.refuse(r, c)
			continue
		}
		client := clientConn{c}
		if !f.track(client) {
			c.Close()
			continue
		}
		r.open.Add(1)
		f.open.Add(1)
		go f.forward(r, client)
	}
}

// track adds a connection to the set closed when the grace period ends; false once shutdown
// has begun.
func (f *forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopAccept {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *forwarder) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// refuse resets a connection over the route's cap: the client learns at once (gRPC:
// Unavailable, retried with backoff) and no socket is left closing on either side. It says so
// at most once a minute per route.
func (f *forwarder) refuse(r *served, c net.Conn) {
	reset(c)
	n := r.refused.Add(1)
	if now := time.Now(); now.Sub(r.lastCapWarn) >= capWarnEvery {
		r.lastCapWarn = now
		f.log.Warn("route at its connection cap: resetting new connections", "listen", r.listen, "target", r.target,
			"maxConnections", f.limits.maxConns, "refusedTotal", n)
	}
}

// capWarnEvery bounds the log lines about a route at its cap.
const capWarnEvery = time.Minute

func (f *forwarder) forward(r *served, client clientConn) {
	defer f.open.Done()
	defer r.open.Add(-1)
	defer f.untrack(client)
	defer client.Close()
	start := time.Now()

	// A new dial for every connection: the Service name is resolved each time, and a target
	// that is down now may be up for the next connection.
	d := net.Dialer{Timeout: f.limits.dialTimeout}
	upstream, err := d.DialContext(f.dials, "tcp", r.target)
	if err != nil {
		// The client sees its connection closed before any byte: gRPC reports Unavailable.
		f.log.Error("dial target failed", "listen", r.listen, "target", r.target, "client", client.RemoteAddr().String(), "error", err.Error())
		return
	}
	f.mu.Lock()
	f.conns[upstream] = struct{}{}
	f.mu.Unlock()
	defer f.untrack(upstream)
	defer upstream.Close()

	p := &pair{idle: f.limits.idleTimeout}
	p.touch()
	var received int64
	done := make(chan struct{})
	go func() { defer close(done); received = p.pipe(client.Conn, upstream) }()
	sent := p.pipe(upstream, client.Conn)
	<-done
	if p.timedOut.Load() {
		r.idleClosed.Add(1)
	}
	f.log.Debug("connection closed", "listen", r.listen, "target", r.target, "client", client.RemoteAddr().String(),
		"upstream", upstream.RemoteAddr().String(), "bytesSent", sent, "bytesReceived", received,
		"duration", time.Since(start).String(), "idleTimeout", p.timedOut.Load())
}

// Shutdown stops accepting (listeners closed, not ready), waits for open connections to end for
// up to grace, then closes the rest. It returns how many client connections it had to close.
func (f *forwarder) Shutdown(grace time.Duration) int {
	f.ready.Store(false)
	f.mu.Lock()
	f.stopAccept = true
	f.mu.Unlock()
	for _, r := range f.routes {
		if r.listener != nil {
			r.listener.Close()
		}
	}
	f.accepts.Wait()

	done := make(chan struct{})
	go func() { f.open.Wait(); close(done) }()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
		f.stopDials()
		return 0
	case <-timer.C:
	}
	f.stopDials()
	closed := f.OpenConnections()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	<-done
	return closed
}
