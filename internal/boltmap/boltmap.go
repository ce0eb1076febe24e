// Package boltmap keeps a bbolt file's pages mapped into the process for
// as long as it has the file open.
//
// bbolt reads its file through a shared mapping larger than the file, and
// writes it with write(2). MAP_POPULATE (Flags) maps the whole file when
// bbolt maps it, at open and at each remap; the pages that commits add
// until the next remap reach the page cache only, and stay out of the
// mapping until a read touches them. Page cache that no process maps is
// what the kernel's reclaim, and a VM's proactive reclaim, evicts first,
// so a read of such a page would wait for the disk, in a page fault
// during which the reading goroutine keeps its P. Mapper maps, after each
// commit, the pages the file has come to use.
package boltmap

import (
	"sync"

	"go.etcd.io/bbolt"
)

// Mapper maps the pages a bbolt file comes to use.
type Mapper struct {
	mu   sync.Mutex
	upTo int64 // the file's used size in bytes when its pages were last mapped
	off  bool  // the kernel cannot (populate)
}

// Opened returns the Mapper of db just opened with Flags, which mapped
// every page it uses.
func Opened(db *bbolt.DB) *Mapper {
	var size int64
	_ = db.View(func(tx *bbolt.Tx) error {
		size = tx.Size()
		return nil
	})
	return &Mapper{upTo: size}
}

// Committed maps the pages db has come to use since the last call; call
// it after a commit.
func (m *Mapper) Committed(db *bbolt.DB) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.off {
		return
	}
	upTo, ok := populate(db, m.upTo)
	m.upTo, m.off = upTo, !ok
}

// Working reports whether the kernel has mapped the pages asked for so
// far (false after MADV_POPULATE_READ failed for good, or off Linux).
func (m *Mapper) Working() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.off
}
