package seal

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOpenRemovesStaleTempKeyrings: temp keyring files a crash left
// behind hold every root key; opening the keyring overwrites them with
// zeros and removes them, but leaves a write in flight (a fresh temp
// file), names outside kmsd's own temp pattern, and the keyring itself
// when a leftover temp file is still linked to it.
func TestOpenRemovesStaleTempKeyrings(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	s, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * staleAfter)
	write := func(name string, mtime time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := write(".root.key.tmp-1234567", old)
	fresh := write(".root.key.tmp-7654321", time.Now())
	foreign := []string{write(".root.key.tmp-notours", old), write(".other.key.tmp-1234", old), write("root.key.bak", old)}
	linked := filepath.Join(dir, ".root.key.tmp-42")
	if err := os.Link(path, linked); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(linked, old, old); err != nil {
		t.Fatal(err)
	}
	// Hold the stale file open to see what becomes of its blocks.
	f, err := os.Open(stale)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	if _, err := Open(path); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{stale, linked} {
		if _, err := os.Lstat(gone); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", filepath.Base(gone), err)
		}
	}
	for _, kept := range append(foreign, fresh) {
		if _, err := os.Lstat(kept); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(kept), err)
		}
	}
	left, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != len(content) || !bytes.Equal(left, make([]byte, len(content))) {
		t.Errorf("the stale temp file's content was not overwritten with zeros")
	}
	// The keyring linked to the leftover is intact.
	again, err := Open(path)
	if err != nil {
		t.Fatalf("the keyring after the cleanup: %v", err)
	}
	sealed, err := s.Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Unseal(sealed, nil); err != nil {
		t.Fatalf("Unseal with the reopened keyring: %v", err)
	}
}
