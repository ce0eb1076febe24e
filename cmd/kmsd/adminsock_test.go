package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A data directory too deep for a Unix socket runs without online
// backups, says so, and backup then explains what to do.
func TestAdminSocketPathTooLong(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	stop := startAdminSocket(Config{DataDir: dir}, slog.New(slog.NewTextHandler(&logs, nil)), func() *instance { return nil })
	defer stop()
	if !strings.Contains(logs.String(), "online backups are off: the admin socket's path is too long") {
		t.Errorf("log: %s", logs.String())
	}
	if _, err := os.Stat(socketPath(dir)); err == nil {
		t.Error("a socket was made")
	}
	_, err := fetchBackup(t.Context(), dir, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "offers no admin socket") || !strings.Contains(err.Error(), "stop the server and try again") {
		t.Errorf("fetchBackup: %v", err)
	}
}
