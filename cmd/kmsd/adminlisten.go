package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/kmsd/kmsd/internal/metrics"
)

// startAdmin serves pprof and the Prometheus metrics on its own listener,
// never on the API port.
func startAdmin(addr string, log *slog.Logger, mx *metrics.Metrics, console http.Handler) (func(), error) {
	mux := http.NewServeMux()
	if console != nil {
		mux.Handle("/", console) // --console admin
	}
	mux.Handle("/metrics", mx.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener", "error", err)
		}
	}()
	log.Info("admin listener (pprof, metrics)", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
