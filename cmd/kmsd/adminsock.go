package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/store/bolt"
)

// A running server holds its bbolt file's exclusive lock, and bbolt's
// read-only mode needs a shared one, so no other process can read the
// store while the server runs. The server itself takes online backups:
// it serves them on a Unix socket in its data directory. Reaching the
// socket needs what reading kmsd.db would (the directory is 0700, the
// socket 0600), and on Linux the server also checks that the peer runs
// as its own user or root, so the socket adds no credential to manage and
// grants nothing that access to the data directory does not.

// socketName is the admin socket's name in the data directory.
const socketName = "kmsd.sock"

// maxSocketPath is the longest path a Unix socket may have (sun_path,
// less its terminating NUL, on the smallest of the usual systems).
const maxSocketPath = 103

func socketPath(dataDir string) string { return filepath.Join(dataDir, socketName) }

// startAdminSocket serves GET /v1/backup, a consistent copy of the store
// of whichever instance current returns, on the data directory's socket.
// The socket is made only for a bbolt store in a data directory; when it
// cannot be made, the server runs without it and says so.
func startAdminSocket(cfg Config, log *slog.Logger, current func() *instance) (stop func()) {
	nothing := func() {}
	if cfg.ephemeral() {
		return nothing
	}
	path := socketPath(cfg.DataDir)
	if len(path) > maxSocketPath {
		log.Warn("online backups are off: the admin socket's path is too long for a Unix socket; use a shorter --data path, or stop the server to back it up", "socket", path)
		return nothing
	}
	// The server holds the store's lock, so a socket left here is from a
	// server that died.
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err == nil {
		if err = os.Chmod(path, 0o600); err != nil {
			ln.Close()
		}
	}
	if err != nil {
		log.Warn("online backups are off: cannot make the admin socket", "socket", path, "error", err)
		return nothing
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/backup", func(w http.ResponseWriter, r *http.Request) {
		serveBackup(w, r, current, log)
	})
	mux.Handle("POST /v1/rotate-root", &rootRotator{current: current, log: log})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(peerChecked{ln, log}); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin socket", "error", err)
		}
	}()
	return func() { _ = srv.Close() }
}

func serveBackup(w http.ResponseWriter, r *http.Request, current func() *instance, log *slog.Logger) {
	in := current()
	if in == nil {
		http.Error(w, "kmsd: no store is open (the last reset failed)", http.StatusServiceUnavailable)
		return
	}
	st, ok := in.n.store.Backend().(*bolt.Store)
	if !ok {
		http.Error(w, "kmsd: this server's store is not a bbolt file; back it up with the database's own tools", http.StatusNotImplemented)
		return
	}
	started := false
	n, err := st.Backup(r.Context(), func(size int64) (io.Writer, error) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
		started = true
		return w, nil
	})
	if err != nil {
		log.Error("online backup failed", "error", err, "bytes", n)
		if !started {
			http.Error(w, "kmsd: backup failed: "+err.Error(), http.StatusInternalServerError)
		}
		return
	}
	log.Info("online backup taken through the admin socket", "bytes", n)
}

// peerChecked refuses connections from processes of another user.
type peerChecked struct {
	net.Listener
	log *slog.Logger
}

func (l peerChecked) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if err := peerAllowed(c); err != nil {
			l.log.Warn("admin socket: connection refused", "error", err)
			c.Close()
			continue
		}
		return c, nil
	}
}

// fetchBackup asks the server running on dataDir for a copy of its store
// and writes it to w, checking that all of it arrived.
func fetchBackup(ctx context.Context, dataDir string, w io.Writer) (int64, error) {
	path := socketPath(dataDir)
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("a running kmsd holds the store in %s, but it offers no admin socket (%s: %v): stop the server and try again, or upgrade it", dataDir, path, errors.Unwrap(err))
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://kmsd/v1/backup", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ask the running kmsd for a backup through %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("the running kmsd refused the backup: %s", strings.TrimSpace(string(msg)))
	}
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("the running kmsd sent %d of the backup's %d bytes", n, resp.ContentLength)
	}
	return n, err
}
