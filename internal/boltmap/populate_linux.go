package boltmap

import (
	"os"

	"go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// populate maps the store's pages from byte from to its current size into
// the process (MADV_POPULATE_READ, Linux 5.14 and later), as MAP_POPULATE
// mapped the rest, and returns the size mapped up to. It reports false
// where the kernel cannot (or may not) do it; after another failure the
// next call tries the same pages again.
func populate(db *bbolt.DB, from int64) (size int64, ok bool) {
	size, ok = from, true
	// Inside a read transaction bbolt cannot remap the file, so the
	// mapping's address stays valid, and the transaction's size is within
	// the mapping.
	_ = db.View(func(tx *bbolt.Tx) error {
		to := tx.Size()
		start := from &^ int64(os.Getpagesize()-1)
		if start >= to {
			return nil
		}
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, db.Info().Data+uintptr(start), uintptr(to-start), unix.MADV_POPULATE_READ)
		switch errno {
		case 0:
			size = to
		case unix.EINVAL, unix.ENOSYS, unix.EPERM:
			ok = false
		}
		return nil
	})
	return size, ok
}
