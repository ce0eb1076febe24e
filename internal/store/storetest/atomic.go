package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/store"
)

// seed writes the state the rollback tests try and fail to change.
func seed(t *testing.T, s store.Store) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		if err := tx.Put([]byte("b"), []byte("keep"), []byte("old")); err != nil {
			return err
		}
		return tx.Put([]byte("b"), []byte("doomed"), []byte("old"))
	})
}

// writeAll makes one write of every kind: overwrite, delete, insert, and
// insert into a new bucket.
func writeAll(tx store.Tx) error {
	if err := tx.Put([]byte("b"), []byte("keep"), []byte("new")); err != nil {
		return err
	}
	if err := tx.Delete([]byte("b"), []byte("doomed")); err != nil {
		return err
	}
	if err := tx.Put([]byte("b"), []byte("added"), []byte("new")); err != nil {
		return err
	}
	return tx.Put([]byte("fresh-bucket"), []byte("k"), []byte("new"))
}

// wantSeedOnly checks that nothing but seed's writes is visible.
func wantSeedOnly(t *testing.T, s store.Store) {
	t.Helper()
	wantValue(t, s, "b", "keep", []byte("old"))
	wantValue(t, s, "b", "doomed", []byte("old"))
	wantMissing(t, s, "b", "added")
	wantMissing(t, s, "fresh-bucket", "k")
	if kvs := scanAll(t, s, "fresh-bucket"); len(kvs) != 0 {
		t.Errorf("rolled-back bucket scans as %q", keysOf(kvs))
	}
}

func testRollbackOnError(t *testing.T, f Factory) {
	s := openFresh(t, f)
	seed(t, s)

	errFn := errors.New("fn failed")
	err := s.Update(t.Context(), func(tx store.Tx) error {
		if err := writeAll(tx); err != nil {
			return err
		}
		return errFn
	})
	if !errors.Is(err, errFn) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	wantSeedOnly(t, s)

	err = s.View(t.Context(), func(store.Tx) error { return errFn })
	if !errors.Is(err, errFn) {
		t.Fatalf("View = %v, want fn's error", err)
	}

	// The store still takes writes.
	put(t, s, "b", "after", []byte("v"))
	wantValue(t, s, "b", "after", []byte("v"))
}

// panicValue is what testRollbackOnPanic panics with.
type panicValue struct{}

func testRollbackOnPanic(t *testing.T, f Factory) {
	s := openFresh(t, f)
	seed(t, s)

	recovered := func() (r any) {
		defer func() { r = recover() }()
		_ = s.Update(t.Context(), func(tx store.Tx) error {
			if err := writeAll(tx); err != nil {
				t.Errorf("writes before the panic: %v", err)
			}
			panic(panicValue{})
		})
		return nil
	}()
	if _, ok := recovered.(panicValue); !ok {
		t.Fatalf("Update recovered or replaced fn's panic: got %v", recovered)
	}
	wantSeedOnly(t, s)

	// A panic must not leave the writer lock (or a connection) held.
	done := make(chan error, 1)
	go func() {
		done <- s.Update(t.Context(), func(tx store.Tx) error {
			return tx.Put([]byte("b"), []byte("after"), []byte("v"))
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Update after a panic: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Update after a panic blocks: the panicking transaction was not released")
	}
	wantValue(t, s, "b", "after", []byte("v"))
}

func testContext(t *testing.T, f Factory) {
	s := openFresh(t, f)
	seed(t, s)

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Update(canceled, writeAll); !errors.Is(err, context.Canceled) {
		t.Errorf("Update with a canceled context = %v, want context.Canceled", err)
	}
	if err := s.View(canceled, func(store.Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("View with a canceled context = %v, want context.Canceled", err)
	}
	wantSeedOnly(t, s)

	// A caller that gives up before the commit is told the Update failed,
	// so it must not have happened.
	ctx, cancel := context.WithCancel(t.Context())
	err := s.Update(ctx, func(tx store.Tx) error {
		err := writeAll(tx)
		cancel()
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update whose context ended inside fn = %v, want context.Canceled", err)
	}
	wantSeedOnly(t, s)
}
