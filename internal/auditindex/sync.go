package auditindex

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.etcd.io/bbolt"
)

// Commits to the index file skip the fsync: the file is derived from the
// log and rebuilt from it after a crash. What says a file needs that is a
// marker file beside it, created and made durable before the first commit
// without fsync, and removed only once the file is flushed. A flag inside
// the index file could not say it: after a power loss a commit's pages
// may be half written, and a stale page may show a flag that says all is
// well.

// unsyncedPath is the marker of an index file with commits not flushed.
func unsyncedPath(indexPath string) string { return indexPath + ".unsynced" }

// update runs fn in a transaction whose commit does not wait for the
// disk, first marking the file unsynced if it is not.
func (ix *Index) update(fn func(tx *bbolt.Tx) error) error {
	if !ix.unsynced {
		if err := ix.markUnsynced(); err != nil {
			return err
		}
	}
	if err := ix.db.Update(fn); err != nil {
		return err
	}
	ix.mapped.Committed(ix.db)
	return nil
}

// markUnsynced creates the marker and makes it durable.
func (ix *Index) markUnsynced() error {
	path := unsyncedPath(ix.opts.Path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("auditindex: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("auditindex: mark the index unsynced: %w", err)
	}
	ix.unsynced = true
	return nil
}

// sync flushes the commits made without fsync and removes the marker.
func (ix *Index) sync() error {
	if !ix.unsynced {
		return nil
	}
	if err := ix.db.Sync(); err != nil {
		return fmt.Errorf("auditindex: sync: %w", err)
	}
	// A removal lost in a crash only costs a rebuild: no directory sync.
	if err := os.Remove(unsyncedPath(ix.opts.Path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("auditindex: %w", err)
	}
	ix.unsynced = false
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
