package auditindex

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/uuid"
)

// recordLine is ev's line in the log with seq's chain member.
func recordLine(tb testing.TB, seq uint64, ev *audit.Event) []byte {
	tb.Helper()
	body, err := ev.MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	line := append(body[:len(body)-1:len(body)-1], chainMarker...)
	line = strconv.AppendUint(line, seq, 10)
	return append(line, `,"prev":"`+zeros+`","hash":"`+zeros+`"}}`+"\n"...)
}

// directLog is a log file written by the test and an index that indexes
// what the test says, a commit at a time, with no indexer goroutine.
type directLog struct {
	t     *testing.T
	ix    *Index
	path  string
	lines [][]byte // bodies, by seq - 1
	off   int64
}

func openDirect(t *testing.T) *directLog {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	ix, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return &directLog{t: t, ix: ix, path: path}
}

// commit appends evs to the log and indexes them in one transaction.
func (d *directLog) commit(evs ...*audit.Event) {
	d.t.Helper()
	b := batch{first: uint64(len(d.lines) + 1), offset: d.off}
	for _, ev := range evs {
		line := recordLine(d.t, uint64(len(d.lines)+1), ev)
		l, err := parseLine(bytes.Clone(line[:len(line)-1]))
		if err != nil {
			d.t.Fatal(err)
		}
		d.lines = append(d.lines, l.body)
		b.lines = append(b.lines, line...)
	}
	f, err := os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	_, err = f.Write(b.lines)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		d.t.Fatal(err)
	}
	d.off += int64(len(b.lines))
	if err := d.ix.apply([]batch{b}, false, d.off); err != nil {
		d.t.Fatal(err)
	}
}

// records is the log read without the index.
func (d *directLog) records() Records {
	return func(yield func(uint64, []byte) bool) {
		for i := len(d.lines) - 1; i >= 0; i-- {
			if !yield(uint64(i+1), d.lines[i]) {
				return
			}
		}
	}
}

// pageAll lists the seqs of every page of q's answer.
func pageAll(t *testing.T, look func(context.Context, Query) (Page, error), q Query) []uint64 {
	t.Helper()
	var out []uint64
	for range 5000 {
		p, err := look(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range p.Events {
			out = append(out, ev.Seq)
		}
		if p.Next == nil {
			return out
		}
		q.After = p.Next
	}
	t.Fatal("paging does not end")
	return nil
}

// TestLookupByEventIDOfEachForm finds events by random (v4) and
// time-ordered (v7) event IDs, spelled in lower or upper case, and by IDs
// that are no UUID, indexed over several commits; an ID recorded twice
// finds its later record.
func TestLookupByEventIDOfEachForm(t *testing.T) {
	d := openDirect(t)
	t0 := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	forms := []func(at time.Time) string{
		func(time.Time) string { return uuid.New() },
		uuid.NewTimeOrdered,
		func(at time.Time) string { return strings.ToUpper(uuid.NewTimeOrdered(at)) },
		func(at time.Time) string { return "trail-event-" + at.Format(time.RFC3339Nano) },
	}
	var evs []*audit.Event
	for c := range 4 {
		var round []*audit.Event
		for i := range 40 {
			at := t0.Add(time.Duration(c*40+i) * 10 * time.Millisecond)
			ev := event(acct, "alice", "Encrypt", "k1", at)
			ev.EventID = forms[i%len(forms)](at)
			round = append(round, ev)
		}
		d.commit(round...)
		evs = append(evs, round...)
	}
	twice := event(acct, "bob", "Decrypt", "k2", t0.Add(time.Minute))
	twice.EventID = evs[5].EventID
	d.commit(twice)
	for i, ev := range evs {
		want := idsOf(ev)
		if i == 5 {
			want = idsOf(twice)
		}
		p, err := d.ix.Lookup(context.Background(), Query{Account: acct, Region: region, Attr: EventID, Value: ev.EventID, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(p); !slices.Equal(got, want) || (i == 5 && p.Events[0].Username != "bob") {
			t.Errorf("EventId %s: got %v, want %v", ev.EventID, got, want)
		}
		if other := strings.ToLower(ev.EventID); other != ev.EventID && uuid.Valid(ev.EventID) {
			if p, _ := d.ix.Lookup(context.Background(), Query{Account: acct, Region: region, Attr: EventID, Value: other, Limit: 5}); len(p.Events) != 0 {
				t.Errorf("EventId %s found as %s", ev.EventID, other)
			}
		}
	}
}

// TestEventKeysKeepTimeOrder checks that the events bucket keeps
// time-ordered IDs in their order, so that they grow at its end.
func TestEventKeysKeepTimeOrder(t *testing.T) {
	t0 := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	prev := eventKey(nil, uuid.NewTimeOrdered(t0))
	for i := 1; i < 1000; i++ {
		k := eventKey(nil, uuid.NewTimeOrdered(t0.Add(time.Duration(i)*time.Millisecond)))
		if bytes.Compare(prev, k) >= 0 {
			t.Fatalf("key %x of a later ID sorts before %x", k, prev)
		}
		prev = k
	}
}

// TestOutOfOrderTimesAcrossCommits indexes records whose event times go
// back and forth within and across commits, some before every earlier
// commit's, and pages through them as Records does over the log: newest
// first, whatever order the records came in.
func TestOutOfOrderTimesAcrossCommits(t *testing.T) {
	d := openDirect(t)
	t0 := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	for c := range 6 {
		var round []*audit.Event
		for i := range 150 {
			// Seconds in a scrambled order, reaching back before earlier
			// commits' and ahead of later ones'.
			s := (i*7 + c*11) % 23
			if i%13 == 0 {
				s = -c
			}
			user := []string{"alice", "bob", "carol"}[(i+c)%3]
			round = append(round, event(acct, user, "Encrypt", []string{"k1", "k2"}[i%2], t0.Add(time.Duration(s)*time.Second)))
		}
		d.commit(round...)
	}
	compareWithRecords(t, d, 6*150)
}

// compareWithRecords pages through the events of d by several attributes,
// time ranges and page sizes, with the index and with Records, which
// must agree, and checks at least n events were compared.
func compareWithRecords(t *testing.T, d *directLog, n int) {
	t.Helper()
	t0 := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	checked := 0
	for _, s := range []struct {
		attr  Attr
		value string
	}{{"", ""}, {Username, "bob"}, {ResourceName, "arn:aws:kms:" + region + ":" + acct + ":key/k1"}, {EventSource, audit.EventSource}} {
		for _, limit := range []int{7, 50, 1000} {
			for _, span := range [][2]time.Duration{{0, 0}, {-2 * time.Second, 3 * time.Second}} {
				q := Query{Account: acct, Region: region, Attr: s.attr, Value: s.value, Limit: limit}
				if span != [2]time.Duration{} {
					q.Start, q.End = t0.Add(span[0]), t0.Add(span[1])
				}
				want, got := pageAll(t, d.records().Lookup, q), pageAll(t, d.ix.Lookup, q)
				if !slices.Equal(got, want) {
					t.Errorf("%s=%s limit %d span %v: the index gives %v, records %v", s.attr, s.value, limit, span, got, want)
				}
				if span == [2]time.Duration{} && s.attr == "" && len(want) != n {
					t.Errorf("%d events in the trail, want %d", len(want), n)
				}
				checked += len(want)
			}
		}
	}
	if checked < n {
		t.Errorf("only %d events compared", checked)
	}
}

// TestEventsPagesFillAsIDsCome checks the events bucket's fill: pages
// nearly full when time-ordered IDs grow it at its end, and about two
// thirds full with random IDs, whose pages are split half full (split
// 90% full, they are split again at once, and end up less full).
func TestEventsPagesFillAsIDsCome(t *testing.T) {
	t0 := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		kind     string
		min, max float64
	}{{"v7", 0.8, 1}, {"v4", 0.62, 0.8}} {
		d := openDirect(t)
		rng := rand.New(rand.NewPCG(3, 4))
		for r := range 4 {
			var evs []*audit.Event
			for i := range 2000 {
				at := t0.Add(time.Duration(r*2000+i) * time.Millisecond)
				ev := event(acct, "alice", "Encrypt", "k1", at)
				ev.EventID = eventIDAt(c.kind, rng, at)
				evs = append(evs, ev)
			}
			d.commit(evs...)
		}
		var s bbolt.BucketStats
		if err := d.ix.db.View(func(tx *bbolt.Tx) error { s = tx.Bucket(bucketEvents).Stats(); return nil }); err != nil {
			t.Fatal(err)
		}
		if fill := float64(s.LeafInuse) / float64(s.LeafAlloc); fill < c.min || fill > c.max || s.KeyN != 8000 {
			t.Errorf("%s IDs: %d events, pages %.0f%% full; want %.0f%% to %.0f%%", c.kind, s.KeyN, 100*fill, 100*c.min, 100*c.max)
		}
	}
}
