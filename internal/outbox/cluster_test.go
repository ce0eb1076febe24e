package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
)

// commitAt commits a change through box whose record has eventTime at.
func commitAt(t *testing.T, box *Outbox, id string, at time.Time) *Entry {
	t.Helper()
	e := NewEntry(id, func() *audit.Event {
		ev := audit.NewEvent("CreateKey", at)
		ev.EventID = id
		return ev
	})
	if err := box.Store().Update(With(context.Background(), e), put); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestShipOlderLeavesRecentEntriesOfOtherNodes: two nodes share a store.
// Node B's leader job ships only entries older than the grace period, so
// the entry node A is finishing right now stays A's; A's entries stranded
// long ago (A died) reach B's log marked as recovered, once.
func TestShipOlderLeavesRecentEntriesOfOtherNodes(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	logA, logB := &memLog{}, &memLog{}
	a, b := New(st, logA, nil), New(st, logB, nil)
	now := time.Now()
	commitAt(t, a, "stranded", now.Add(-2*time.Minute))
	finishing := commitAt(t, a, "finishing", now)

	n, err := b.ShipOlder(ctx, now.Add(-time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("ShipOlder = %d, %v; want the one old entry", n, err)
	}
	if len(logB.recs) != 1 || logB.recs[0].EventID != "stranded" || logB.recs[0].AdditionalEventData[RecoveredKey] != true {
		t.Fatalf("node B's log holds %+v, want only the stranded record, marked recovered", logB.recs)
	}
	if got := outboxKeys(t, st); len(got) != 1 || got[0] != "finishing" {
		t.Fatalf("outbox holds %v, want only the entry node A is finishing", got)
	}
	if n, err := b.ShipOlder(ctx, now.Add(-time.Minute)); err != nil || n != 0 {
		t.Fatalf("second ShipOlder = %d, %v; want nothing", n, err)
	}
	// A finishes its request: its log has the record, the entry goes.
	a.Finish(finishing, true)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := outboxKeys(t, st); len(got) != 0 {
		t.Fatalf("outbox holds %v", got)
	}
	if len(logA.recs) != 0 {
		t.Fatalf("the outbox wrote to node A's log: %+v", logA.recs)
	}
}

// TestDropDeliveredShipsNothing: at start a node of a cluster deletes the
// entries its own log holds and leaves the rest, which may be other nodes'
// requests in flight.
func TestDropDeliveredShipsNothing(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	other := New(st, &memLog{}, nil)
	commitAt(t, other, "in-my-log", time.Now())
	commitAt(t, other, "someone-elses", time.Now())

	log := &memLog{}
	restarted := New(st, log, nil)
	n, err := restarted.DropDelivered(ctx, func(ids map[string]bool, _ time.Time) error {
		if _, ok := ids["in-my-log"]; ok {
			ids["in-my-log"] = true
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("DropDelivered = %d, %v; want 1", n, err)
	}
	if got := outboxKeys(t, st); len(got) != 1 || got[0] != "someone-elses" {
		t.Fatalf("outbox holds %v, want only the entry not in this node's log", got)
	}
	if len(log.recs) != 0 {
		t.Fatalf("DropDelivered shipped %+v", log.recs)
	}
}
