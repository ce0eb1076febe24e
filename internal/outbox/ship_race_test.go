package outbox

import (
	"context"
	"testing"

	"github.com/kmsd/kmsd/internal/store"
)

// pausingStore lets a test run code at one point of an Update: after fn,
// before the commit (before), or after the commit, before Update returns
// (after).
type pausingStore struct {
	store.Store
	before, after func()
}

func (s *pausingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	err := s.Store.Update(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.before != nil {
			s.before()
		}
		return nil
	})
	if err == nil && s.after != nil {
		s.after()
	}
	return err
}

// TestShipSkipsAnEntryBeingCommitted: between a request's commit and its
// return, its entry is in the store; a Ship running then must not take it
// for stranded, or the record reaches the log twice (the request's own,
// and a recovered copy).
func TestShipSkipsAnEntryBeingCommitted(t *testing.T) {
	ctx := context.Background()
	log := &memLog{}
	ps := &pausingStore{Store: openStore(t)}
	box := New(ps, log, nil)
	shipped := -1
	ps.after = func() {
		ps.after = nil
		var err error
		if shipped, err = box.Ship(ctx); err != nil {
			t.Error(err)
		}
	}
	e := NewEntry("committing", record("committing"))
	if err := box.Store().Update(With(ctx, e), put); err != nil {
		t.Fatal(err)
	}
	if shipped != 0 || len(log.recs) != 0 {
		t.Fatalf("Ship during the commit shipped %d records (%+v): the request is still finishing it", shipped, log.recs)
	}
}

// TestShipSkipsAnEntryBeingDeleted: once a request's record is in the
// log, its entry is deleted by a later transaction; a Ship looking while
// that delete commits must not take it for stranded and ship it again.
func TestShipSkipsAnEntryBeingDeleted(t *testing.T) {
	ctx := context.Background()
	ps := &pausingStore{Store: openStore(t)}
	box := New(ps, &memLog{}, nil)
	e := NewEntry("delivered", record("delivered"))
	if err := box.Store().Update(With(ctx, e), put); err != nil {
		t.Fatal(err)
	}
	box.Finish(e, true)
	var seen []store.KV
	ps.before = func() {
		ps.before = nil
		var err error
		// What Ship would ship now (Ship itself would wait for this
		// transaction's write lock to delete what it shipped).
		if seen, err = box.stranded(ctx); err != nil {
			t.Error(err)
		}
	}
	if err := box.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 0 {
		t.Fatalf("while the delete committed, Ship would have shipped %q: the request delivered it", seen[0].Key)
	}
	if got := outboxKeys(t, ps); len(got) != 0 {
		t.Fatalf("outbox holds %v", got)
	}
}
