package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

type healthServer struct {
	Addr string
	srv  *http.Server
}

// startHealth serves /healthz (the process answers) and /readyz (ready() is true) on addr.
func startHealth(addr string, ready func() bool, log *slog.Logger) (*healthServer, error) {
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
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("health endpoint stopped", "addr", addr, "error", err.Error())
		}
	}()
	return &healthServer{Addr: l.Addr().String(), srv: srv}, nil
}

func (h *healthServer) Close() error { return h.srv.Close() }
