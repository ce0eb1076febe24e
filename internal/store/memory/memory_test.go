package memory

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() (store.Store, error) {
		return func() (store.Store, error) { return New(), nil }
	}, storetest.Volatile())
}

func TestTxUsedAfterEnd(t *testing.T) {
	s := New()
	var leaked store.Tx
	if err := s.Update(t.Context(), func(tx store.Tx) error {
		leaked = tx
		return tx.Put([]byte("b"), []byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := leaked.Get([]byte("b"), []byte("k")); !errors.Is(err, errTxEnded) {
		t.Errorf("Get on an ended tx: %v", err)
	}
	if err := leaked.Put([]byte("b"), []byte("k"), nil); !errors.Is(err, errTxEnded) {
		t.Errorf("Put on an ended tx: %v", err)
	}
	if err := leaked.Delete([]byte("b"), []byte("k")); !errors.Is(err, errTxEnded) {
		t.Errorf("Delete on an ended tx: %v", err)
	}
	if _, err := leaked.Scan([]byte("b"), nil, nil, 0); !errors.Is(err, errTxEnded) {
		t.Errorf("Scan on an ended tx: %v", err)
	}
}

// TestCloseForgets checks that a closed store refuses transactions and
// holds nothing any more.
func TestCloseForgets(t *testing.T) {
	s := New()
	if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.Put([]byte("b"), []byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	nop := func(store.Tx) error { return nil }
	if err := s.Update(t.Context(), nop); !errors.Is(err, errClosed) {
		t.Errorf("Update after Close = %v", err)
	}
	if err := s.View(t.Context(), nop); !errors.Is(err, errClosed) {
		t.Errorf("View after Close = %v", err)
	}
	if n := len(s.snap.Load().buckets); n != 0 {
		t.Errorf("closed store still holds %d buckets", n)
	}
}

// TestViewInsideUpdate checks that a View nested in an Update sees the
// committed state and does not wait for the Update.
func TestViewInsideUpdate(t *testing.T) {
	s := New()
	ctx := t.Context()
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte("b"), []byte("k"), []byte("old")) }); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx store.Tx) error {
			if err := tx.Put([]byte("b"), []byte("k"), []byte("new")); err != nil {
				return err
			}
			return s.View(ctx, func(v store.Tx) error {
				got, err := v.Get([]byte("b"), []byte("k"))
				if err == nil && string(got) != "old" {
					err = errors.New("nested View saw " + string(got))
				}
				return err
			})
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a View inside an Update blocks")
	}
}

// TestUpdateWaitingForWriterHonoursContext checks that an Update queued
// behind another gives up when its context ends.
func TestUpdateWaitingForWriterHonoursContext(t *testing.T) {
	s := New()
	hold, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.Update(context.Background(), func(store.Tx) error {
			close(hold)
			<-release
			return nil
		})
	}()
	<-hold
	defer close(release)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := s.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte("b"), []byte("k"), nil) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued Update = %v, want DeadlineExceeded", err)
	}
}

func TestBuckets(t *testing.T) {
	s := New()
	ctx := t.Context()
	if err := s.Update(ctx, func(tx store.Tx) error {
		for _, b := range []string{"z", "a", "m"} {
			if err := tx.Put([]byte(b), []byte("k"), nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	err := s.Update(ctx, func(t2 store.Tx) error {
		if err := t2.Delete([]byte("m"), []byte("k")); err != nil {
			return err
		}
		if err := t2.Put([]byte("new"), []byte("k"), nil); err != nil {
			return err
		}
		names, err := t2.(*tx).Buckets()
		if err != nil {
			return err
		}
		if got := join(names); got != "a,new,z" {
			t.Errorf("Buckets inside the tx = %s, want a,new,z", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func join(names [][]byte) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ","
		}
		out += string(n)
	}
	return out
}
