package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The health endpoint answers the kubelet, which sends one short request per connection. These
// bound what any other client can make it hold: a request must arrive within healthReadTimeout
// and be small, and an answer must leave within healthWriteTimeout.
const (
	healthReadTimeout  = 2 * time.Second
	healthWriteTimeout = 2 * time.Second
	healthIdleTimeout  = 5 * time.Second
	healthHeaderBytes  = 4 << 10
)

type healthServer struct {
	Addr string
	srv  *http.Server
	lim  *connLimiter
}

// startHealth serves /healthz (the process answers) and /readyz (ready() is true) on addr, holding
// at most maxConns connections.
func startHealth(addr string, maxConns int, ready func() bool, log *slog.Logger) (*healthServer, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--health-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready: routes not listening or shutting down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	lim := &connLimiter{Listener: l, max: maxConns, conns: map[net.Conn]*connSlot{}, log: log}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: healthReadTimeout,
		ReadTimeout:       healthReadTimeout,
		WriteTimeout:      healthWriteTimeout,
		IdleTimeout:       healthIdleTimeout,
		MaxHeaderBytes:    healthHeaderBytes,
		ConnState:         lim.connState,
	}
	go func() {
		if err := srv.Serve(lim); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("health endpoint stopped", "addr", addr, "error", err.Error())
		}
	}()
	return &healthServer{Addr: l.Addr().String(), srv: srv, lim: lim}, nil
}

// Close stops the health server and its connections.
func (h *healthServer) Close() error { return h.srv.Close() }

// connLimiter holds at most max connections of an http.Server. At the cap a new connection
// closes the one that has waited longest without a request in progress: the kubelet's probe
// sends its request as soon as it connects, so a flood of silent connections cannot hold it out
// (nor the memory), whereas refusing the newest would refuse the probe.
type connLimiter struct {
	net.Listener
	max int
	log *slog.Logger

	mu       sync.Mutex
	conns    map[net.Conn]*connSlot
	lastWarn time.Time

	evicted atomic.Int64 // connections closed to make room
	refused atomic.Int64 // connections closed because every open one had a request in progress
}

type connSlot struct {
	busy  bool      // a request is being read or answered
	since time.Time // accepted, or last went idle
}

// Accept returns the next connection, making room for it at the cap (see connLimiter).
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.admit(c) {
			return c, nil
		}
	}
}

func (l *connLimiter) admit(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if len(l.conns) >= l.max {
		var victim net.Conn
		var oldest time.Time
		for vc, s := range l.conns {
			if !s.busy && (victim == nil || s.since.Before(oldest)) {
				victim, oldest = vc, s.since
			}
		}
		if victim == nil {
			reset(c)
			l.warn(now, l.refused.Add(1), "every connection has a request in progress: resetting a new one")
			return false
		}
		delete(l.conns, victim)
		reset(victim)
		l.warn(now, l.evicted.Add(1), "closing the longest waiting connection to make room")
	}
	l.conns[c] = &connSlot{since: now}
	return true
}

// warn says at most once a minute that the endpoint is at its cap.
func (l *connLimiter) warn(now time.Time, n int64, what string) {
	if now.Sub(l.lastWarn) < capWarnEvery {
		return
	}
	l.lastWarn = now
	l.log.Warn("health endpoint at its connection cap: "+what, "maxConnections", l.max, "total", n)
}

// connState follows http.Server's view of each connection.
func (l *connLimiter) connState(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.conns[c]
	if !ok {
		return
	}
	switch state {
	case http.StateActive:
		s.busy = true
	case http.StateIdle:
		s.busy, s.since = false, time.Now()
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	}
}

// open is how many connections the endpoint holds.
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// reset closes c with a RST, leaving no socket behind in a closing state.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
