package auditindex

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/kmsd/kmsd/internal/audit"
)

// TestGroupedPostingsAnswerAsRecordsDo indexes hundreds of records per
// commit, most in the same few seconds (groups of many postings, split at
// maxGroup, several per term and second across commits, some recorded out
// of time order), and pages through them as Records does over the log.
func TestGroupedPostingsAnswerAsRecordsDo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	tr := openTrail(t, path, Options{CommitInterval: time.Hour})
	t0 := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	for c := range 3 {
		var evs []*audit.Event
		for i := range 300 {
			at := t0.Add(time.Duration(i%3) * time.Second)
			if i%50 == 7 {
				at = t0.Add(-time.Second) // recorded late
			}
			user := []string{"alice", "bob"}[i%2]
			evs = append(evs, event(acct, user, "Encrypt", []string{"k1", "k2", "k3"}[(i+c)%3], at))
		}
		tr.append(evs...)
		tr.lookup(Query{Limit: 1}) // one commit for these
	}
	// Grouped: far fewer keys than postings (7 per event), wherever they lie.
	var keys int
	if err := tr.ix.db.View(func(tx *bbolt.Tx) error {
		keys = tx.Bucket(bucketPostings).Stats().KeyN + tx.Bucket(bucketRecent).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if keys == 0 || keys > 900 {
		t.Errorf("%d posting keys for 900 events", keys)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []line
	for _, b := range bytes.Split(bytes.TrimSuffix(file, []byte("\n")), []byte("\n")) {
		l, err := parseLine(b)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	recs := Records(func(yield func(uint64, []byte) bool) {
		for i := len(lines) - 1; i >= 0; i-- {
			if !yield(lines[i].seq, lines[i].body) {
				return
			}
		}
	})
	checked := 0
	for _, s := range []struct {
		attr  Attr
		value string
	}{{"", ""}, {Username, "bob"}, {ResourceName, "arn:aws:kms:" + region + ":" + acct + ":key/k2"}, {EventSource, audit.EventSource}} {
		for _, limit := range []int{50, 129, 1000} {
			for _, span := range [][2]time.Duration{{0, 0}, {0, time.Second}, {-time.Second, -time.Second}} {
				q := Query{Account: acct, Region: region, Attr: s.attr, Value: s.value, Limit: limit}
				if span != [2]time.Duration{} {
					q.Start, q.End = t0.Add(span[0]), t0.Add(span[1])
				}
				want, got := pageAll(t, recs.Lookup, q), pageAll(t, tr.ix.Lookup, q)
				if !slices.Equal(got, want) {
					t.Errorf("%s=%s limit %d span %v: the index gives %d events, records %d", s.attr, s.value, limit, span, len(got), len(want))
				}
				checked += len(want)
			}
		}
	}
	if checked < 10000 {
		t.Errorf("only %d events compared", checked)
	}
}
