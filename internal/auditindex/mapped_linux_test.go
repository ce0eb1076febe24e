package auditindex

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/kmsd/kmsd/internal/boltmap/boltmaptest"
)

// TestIndexStaysMapped: every page the index file uses is mapped, also
// the pages its commits added since bbolt last mapped it, so neither the
// indexer nor a lookup waits on the disk for a page reclaim took.
func TestIndexStaysMapped(t *testing.T) {
	tr := openTrail(t, filepath.Join(t.TempDir(), "log.jsonl"), Options{CommitInterval: 10 * time.Millisecond})
	at := time.Now()
	for i := range 20_000 {
		tr.append(event(acct, fmt.Sprint("user", i%50), "Encrypt", fmt.Sprint("k", i), at.Add(time.Duration(i)*time.Millisecond)))
	}
	last := event(acct, "alice", "Decrypt", "last", at.Add(time.Hour))
	tr.append(last)
	if got := ids(tr.lookup(Query{Attr: EventID, Value: last.EventID})); !slices.Equal(got, idsOf(last)) {
		t.Fatalf("the last record is not found: %v", got)
	}
	if !tr.ix.mapped.Working() {
		t.Skip("this kernel cannot map pages on request (MADV_POPULATE_READ, Linux 5.14)")
	}
	// The indexer may still be committing: its next commit maps what it
	// adds, so the mapping catches up with the file within moments.
	var size, rss int64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if err := tr.ix.db.View(func(tx *bbolt.Tx) error { size = tx.Size(); return nil }); err != nil {
			t.Fatal(err)
		}
		if rss = boltmaptest.Mapped(t, tr.ix.opts.Path); rss >= size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the %d bytes the index file uses are mapped", rss, size)
		}
	}
	t.Logf("%d bytes used, all mapped", size)
}
