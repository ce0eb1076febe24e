package outbox

import (
	"context"
	"testing"

	"github.com/kmsd/kmsd/internal/store"
)

// viewHookStore runs after once, after the next View returns.
type viewHookStore struct {
	store.Store
	after func()
}

func (s *viewHookStore) View(ctx context.Context, fn func(store.Tx) error) error {
	err := s.Store.View(ctx, fn)
	if f := s.after; f != nil {
		s.after = nil
		f()
	}
	return err
}

// TestShipSkipsAnEntryDeletedAfterItsSnapshot: a Ship whose snapshot of
// the outbox still holds a delivered entry, whose delete then commits
// before Ship checks the entries in flight, must not ship it again (seen
// as a duplicate recovered record under thousands of CreateKey a second).
func TestShipSkipsAnEntryDeletedAfterItsSnapshot(t *testing.T) {
	ctx := context.Background()
	log := &memLog{}
	vs := &viewHookStore{Store: openStore(t)}
	box := New(vs, log, nil)
	e := NewEntry("delivered", record("delivered"))
	if err := box.Store().Update(With(ctx, e), put); err != nil {
		t.Fatal(err)
	}
	box.Finish(e, true)
	vs.after = func() {
		if err := box.Flush(ctx); err != nil {
			t.Error(err)
		}
	}
	shipped, err := box.Ship(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if shipped != 0 || len(log.recs) != 0 {
		t.Fatalf("Ship shipped %d records (%+v) whose delete committed after its snapshot: the request delivered them", shipped, log.recs)
	}
}
