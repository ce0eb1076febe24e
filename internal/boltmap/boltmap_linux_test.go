package boltmap

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/kmsd/kmsd/internal/boltmap/boltmaptest"
)

// grow opens a bbolt file with Flags and commits 10 MB to it in ten
// transactions, each followed by m.Committed when mapped.
func grow(t *testing.T, mapped bool) (path string, db *bbolt.DB, m *Mapper) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "file.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{MmapFlags: Flags})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if mapped {
		m = Opened(db)
	}
	v := bytes.Repeat([]byte{7}, 2000)
	for i := range 10 {
		err := db.Update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for j := range 500 {
				if err := b.Put([]byte(fmt.Sprintf("%02d-%04d", i, j)), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if m != nil {
			m.Committed(db)
		}
	}
	return path, db, m
}

func used(t *testing.T, db *bbolt.DB) int64 {
	var size int64
	if err := db.View(func(tx *bbolt.Tx) error { size = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	return size
}

// TestCommittedMapsWhatTheFileGrew: without the Mapper, pages written
// between two remaps stay out of the mapping; with it every page the file
// uses is mapped.
func TestCommittedMapsWhatTheFileGrew(t *testing.T) {
	path, db, _ := grow(t, false)
	if rss, size := boltmaptest.Mapped(t, path), used(t, db); rss >= size {
		t.Fatalf("without the Mapper %d of %d bytes are mapped: this test shows nothing here", rss, size)
	}
	path, db, m := grow(t, true)
	if !m.Working() {
		t.Skip("this kernel cannot map pages on request (MADV_POPULATE_READ, Linux 5.14)")
	}
	if rss, size := boltmaptest.Mapped(t, path), used(t, db); rss < size {
		t.Fatalf("%d of the %d bytes the file uses are mapped", rss, size)
	}
}
