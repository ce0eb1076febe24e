package bolt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kmsd/kmsd/internal/boltmap/boltmaptest"
	"github.com/kmsd/kmsd/internal/store"
	"go.etcd.io/bbolt"
)

// fill commits 10 MB to s in ten Updates.
func fill(t *testing.T, s *Store) {
	t.Helper()
	v := bytes.Repeat([]byte{7}, 2000)
	for i := range 10 {
		if err := s.Update(t.Context(), func(tx store.Tx) error {
			for j := range 500 {
				if err := tx.Put([]byte("b"), []byte(fmt.Sprintf("%02d-%04d", i, j)), v); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenMapsTheWholeFile: an opened store has every page of its file
// mapped, so a request reading a cold key takes no page fault while it
// holds bbolt's map lock.
func TestOpenMapsTheWholeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kmsd.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rss := boltmaptest.Mapped(t, path); rss < st.Size()*9/10 {
		t.Fatalf("%d of the file's %d bytes are mapped after Open", rss, st.Size())
	}
}

// TestGrowthStaysMapped: pages a commit adds to the file are mapped as it
// commits, not at their first read. Unmapped, they are page cache no
// process maps, which the kernel's reclaim takes first, and the next read
// of a key on one of them waits for the disk.
func TestGrowthStaysMapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kmsd.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fill(t, s)
	if !s.group.mapped.Working() {
		t.Skip("this kernel cannot map pages on request (MADV_POPULATE_READ, Linux 5.14)")
	}
	var used int64
	if err := s.db.View(func(tx *bbolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	if rss := boltmaptest.Mapped(t, path); rss < used {
		t.Fatalf("%d of the %d bytes the store uses are mapped", rss, used)
	}
}
