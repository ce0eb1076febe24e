package seal

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// staleAfter is how old a temp keyring file must be before opening the
// keyring removes it. Writing one (write, fsync, rename) takes
// milliseconds, so a file this old is a crash's leftover, never the write
// in flight of this process or of another kmsd on the same directory.
const staleAfter = time.Minute

// removeStaleTemps deletes the temp files that writeTemp leaves beside
// path when a process dies between writing one and renaming or removing
// it: each holds a whole keyring (plaintext under the file seal), so
// neither a root key retirement nor a seal migration would otherwise make
// the directory free of the old keys. Only names of writeTemp's own
// pattern are touched. A temp file that is still linked as the keyring
// itself (createKeyring links before it removes) is unlinked, not zeroed.
// Errors are ignored: the keyring opens regardless.
func removeStaleTemps(path string, now time.Time) {
	dir, base := filepath.Dir(path), "."+filepath.Base(path)+".tmp-"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	ring, err := os.Stat(path)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), base)
		if !ok || rest == "" || strings.Trim(rest, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		name := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(name)
		if err != nil || !fi.Mode().IsRegular() || now.Sub(fi.ModTime()) < staleAfter {
			continue
		}
		if !os.SameFile(fi, ring) {
			zeroStale(name, fi)
		}
		_ = os.Remove(name)
	}
	_ = syncDir(dir)
}

// zeroStale overwrites the content of the temp file name, if it is still
// the file fi describes, so its keys do not stay in freed blocks.
func zeroStale(name string, fi os.FileInfo) {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	if now, err := f.Stat(); err == nil && os.SameFile(now, fi) {
		_ = zeroFile(f)
	}
}
