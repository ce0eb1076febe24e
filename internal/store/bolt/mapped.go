package bolt

import "go.etcd.io/bbolt"

// mapped keeps every page the store uses mapped into the process. bbolt
// maps the file with MAP_POPULATE (mmap_linux.go) at Open and at each
// remap, into a mapping larger than the file; the pages that commits add
// until the next remap reach the file by write(2) and stay out of the
// mapping until a read touches them. Page cache that no process maps is
// what the kernel's reclaim, and a VM's proactive reclaim, evicts first,
// so a key on such a page would cost a read from the disk, during which
// the reading goroutine holds its P. The leader of each commit maps the
// pages it added (group.commit), so they stay with the rest.
type mapped struct {
	upTo int64 // the store's size in bytes when its pages were last mapped
	off  bool  // the kernel cannot (populate)
}

// grew maps the pages the store has come to use since the last call.
func (m *mapped) grew(db *bbolt.DB) {
	if m.off {
		return
	}
	upTo, ok := populate(db, m.upTo)
	m.upTo, m.off = upTo, !ok
}

// storeSize is the size in bytes of the pages db uses (its high-water
// mark), which MAP_POPULATE mapped at Open.
func storeSize(db *bbolt.DB) int64 {
	var size int64
	_ = db.View(func(tx *bbolt.Tx) error {
		size = tx.Size()
		return nil
	})
	return size
}
