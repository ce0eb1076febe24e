package outbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/bolt"
)

// memLog keeps appended records; fail makes Append refuse them.
type memLog struct {
	mu   sync.Mutex
	recs []audit.Event
	fail error
}

func (l *memLog) Append(ev *audit.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	l.recs = append(l.recs, *ev)
	return nil
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func outboxKeys(t *testing.T, st store.Store) []string {
	t.Helper()
	var keys []string
	err := st.View(context.Background(), func(tx store.Tx) error {
		kvs, err := tx.Scan(bucket, nil, nil, 0)
		for _, kv := range kvs {
			keys = append(keys, string(kv.Key))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func record(id string) func() *audit.Event {
	return func() *audit.Event {
		ev := audit.NewEvent("CreateKey", time.Now())
		ev.EventID = id
		ev.RequestParameters = map[string]any{"description": "x"}
		return ev
	}
}

var put = func(tx store.Tx) error { return tx.Put([]byte("keys"), []byte("k"), []byte("v")) }

func TestChangeCommitsWithItsRecord(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	box := New(st, &memLog{}, nil)
	e := NewEntry("ev-1", record("ev-1"))
	if err := box.Store().Update(With(ctx, e), put); err != nil {
		t.Fatal(err)
	}
	if !e.Committed() {
		t.Fatal("entry not marked committed")
	}
	if got := outboxKeys(t, st); len(got) != 1 || got[0] != "ev-1" {
		t.Fatalf("outbox holds %v, want [ev-1]", got)
	}
	// A request still running is not stranded.
	if n, _ := box.Pending(ctx); n != 0 {
		t.Fatalf("pending = %d while the request runs", n)
	}
	box.Finish(e, true)
	// The next transaction, of any request, deletes the delivered entry.
	if err := box.Store().Update(ctx, put); err != nil {
		t.Fatal(err)
	}
	if got := outboxKeys(t, st); len(got) != 0 {
		t.Fatalf("outbox still holds %v after delivery", got)
	}
}

func TestFailedChangeLeavesNoRecord(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	box := New(st, &memLog{}, nil)
	e := NewEntry("ev-2", record("ev-2"))
	boom := errors.New("boom")
	err := box.Store().Update(With(ctx, e), func(tx store.Tx) error {
		if err := put(tx); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || e.Committed() {
		t.Fatalf("err = %v, committed = %v", err, e.Committed())
	}
	if got := outboxKeys(t, st); len(got) != 0 {
		t.Fatalf("outbox holds %v for a rolled-back change", got)
	}
}

func TestUndeliveredRecordIsShipped(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	log := &memLog{fail: errors.New("disk full")}
	box := New(st, log, nil)
	e := NewEntry("ev-3", record("ev-3"))
	if err := box.Store().Update(With(ctx, e), put); err != nil {
		t.Fatal(err)
	}
	box.Finish(e, false)
	if n, _ := box.Pending(ctx); n != 1 {
		t.Fatalf("pending = %d, want 1", n)
	}
	if _, err := box.Ship(ctx); err == nil {
		t.Fatal("Ship succeeded while the log refuses records")
	}
	if got := outboxKeys(t, st); len(got) != 1 {
		t.Fatalf("a record the log refused left the outbox: %v", got)
	}
	log.fail = nil
	n, err := box.Ship(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Ship = %d, %v", n, err)
	}
	if len(log.recs) != 1 || log.recs[0].EventID != "ev-3" || log.recs[0].AdditionalEventData[RecoveredKey] != true {
		t.Fatalf("log holds %+v", log.recs)
	}
	if got := outboxKeys(t, st); len(got) != 0 {
		t.Fatalf("outbox still holds %v after shipping", got)
	}
}

func TestRecoverSkipsRecordsAlreadyInTheLog(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	box := New(st, &memLog{}, nil)
	for _, id := range []string{"in-log", "lost"} {
		e := NewEntry(id, record(id))
		if err := box.Store().Update(With(ctx, e), put); err != nil {
			t.Fatal(err)
		}
	}
	// A log whose last record is "in-log", after many older ones.
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var b []byte
	old := audit.NewEvent("Encrypt", time.Now().Add(-time.Hour))
	for range 3000 {
		line, _ := old.MarshalJSON()
		b = append(append(b, line...), '\n')
	}
	ev := record("in-log")()
	line, _ := ev.MarshalJSON()
	b = append(append(b, line...), '\n')
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	log := &memLog{}
	restarted := New(st, log, nil)
	n, err := restarted.Recover(ctx, func(ids map[string]bool, since time.Time) error {
		return FindInLog(path, ids, since)
	})
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1 shipped", n, err)
	}
	if len(log.recs) != 1 || log.recs[0].EventID != "lost" {
		t.Fatalf("shipped %+v, want only the record missing from the log", log.recs)
	}
	if got := outboxKeys(t, st); len(got) != 0 {
		t.Fatalf("outbox still holds %v", got)
	}
}

func TestUpdateWithoutEntryWritesNoRecord(t *testing.T) {
	st := openStore(t)
	box := New(st, &memLog{}, nil)
	if err := box.Store().Update(context.Background(), put); err != nil {
		t.Fatal(err)
	}
	if got := outboxKeys(t, st); len(got) != 0 {
		t.Fatalf("outbox holds %v", got)
	}
}

func TestStagedRecordCommitsWithTheChange(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	box := New(st, &memLog{}, nil)
	e := NewEntry("", nil)
	jctx := With(ctx, e)
	// A transaction that stages nothing writes nothing.
	if err := box.Store().Update(jctx, put); err != nil || e.Committed() {
		t.Fatalf("err = %v, committed = %v", err, e.Committed())
	}
	ev := record("job-1")()
	attempts := 0
	err := box.Store().Update(jctx, func(tx store.Tx) error {
		attempts++
		Stage(jctx, ev)
		return put(tx)
	})
	if err != nil || !e.Committed() || e.Staged() != ev || attempts != 1 {
		t.Fatalf("err = %v, committed = %v, staged = %v", err, e.Committed(), e.Staged())
	}
	if got := outboxKeys(t, st); len(got) != 1 || got[0] != "job-1" {
		t.Fatalf("outbox holds %v", got)
	}
}
