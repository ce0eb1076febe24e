package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kmsd/kmsd/internal/boltmap"
	"github.com/kmsd/kmsd/internal/store"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrLocked reports that another process holds the data file open.
var ErrLocked = errors.New("locked by another kmsd process")

// lockTimeout bounds how long Open waits for the file lock. Long enough to
// ride out a restart in which the old process is still exiting, short enough
// that a second `kmsd dev` in the same directory fails at once.
const lockTimeout = time.Second

// Store is a store.Store backed by one bbolt file. It is safe for concurrent
// use.
type Store struct {
	db    *bbolt.DB
	note  string // what Open noticed about a file it still accepted
	group *group // commits concurrent Updates together (group.go)
}

var _ store.Store = (*Store)(nil)

// Open opens the bbolt file at path, creating it with mode 0600 (and its
// parent directory with mode 0700) if missing. If another process has the
// file open, Open fails with an error wrapping ErrLocked. A file that is
// not an intact store (truncated, overwritten, empty) is refused with a
// *CorruptError before bbolt maps it, so that it can neither crash the
// process nor be taken for a new store.
func Open(path string) (*Store, error) {
	return open(path, lockTimeout, false)
}

// OpenReadOnly opens an existing store for reading only, beside any other
// reader (kmsd admin check, a backup being verified). It waits for the
// lock as Open does, so it fails with ErrLocked while a server has the
// file open: bbolt takes a shared lock for readers and an exclusive one
// for the writer, and they exclude each other.
func OpenReadOnly(path string) (*Store, error) {
	return open(path, lockTimeout, true)
}

func open(path string, timeout time.Duration, readOnly bool) (*Store, error) {
	if !readOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create data directory for %s: %w", path, err)
		}
	}
	var note string
	openFile := func(name string, flag int, perm os.FileMode) (f *os.File, err error) {
		f, note, err = openDataFile(name, flag, perm, !readOnly, timeout)
		return f, err
	}
	db, err := safeOpen(path, &bbolt.Options{Timeout: timeout, ReadOnly: readOnly, OpenFile: openFile, MmapFlags: boltmap.Flags})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout), errors.Is(err, ErrLocked):
		return nil, fmt.Errorf("data file %s is %w", path, ErrLocked)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrVersionMismatch):
		return nil, &CorruptError{Path: path, Problem: err.Error()}
	case errors.As(err, new(*CorruptError)):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("open data file %s: %w", path, err)
	}
	return &Store{db: db, note: note, group: &group{db: db, mapped: boltmap.Opened(db)}}, nil
}

// View runs fn on a consistent read-only snapshot. Put and Delete inside fn
// fail. It returns fn's error unchanged.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var fnErr error
	err := s.db.View(func(btx *bbolt.Tx) error {
		t := &tx{btx: btx}
		defer t.end()
		fnErr = fn(t)
		return fnErr
	})
	if err != nil && fnErr == nil {
		return fmt.Errorf("store/bolt: view: %w", err)
	}
	return err
}

// Update runs fn in a read-write transaction and commits it, fsynced, if fn
// returns nil. Writers are serialized, so fn runs exactly once; Updates
// that arrive while another commits share the next transaction and its
// fsync (group.go), each returning only once that fsync is done. If fn
// fails or panics, or ctx ends before the commit, nothing it wrote is
// kept; fn's (or ctx's) error is returned unchanged and a panic propagates.
// A ctx that ends while Update waits for its turn is noticed only when its
// fn would run.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.group.update(ctx, fn)
}

// GroupStats reports how many write transactions were committed and how
// many Updates they held: their ratio is the Updates answered per fsync.
func (s *Store) GroupStats() (commits, updates uint64) {
	return s.group.commits.Load(), s.group.updates.Load()
}

// Close waits for running transactions to finish, then releases the file
// and its lock. Closing twice is harmless.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store/bolt: close %s: %w", s.db.Path(), err)
	}
	return nil
}
