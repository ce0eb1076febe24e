package metrics

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/bolt"
	"github.com/kmsd/kmsd/internal/store/storetest"
)

// The wrapped store keeps the store contract.
func TestObservedStoreConformance(t *testing.T) {
	m := New(nil)
	storetest.Run(t, func(t *testing.T) func() (store.Store, error) {
		path := filepath.Join(t.TempDir(), "kmsd.db")
		return func() (store.Store, error) {
			st, err := bolt.Open(path)
			return m.Store(st), err
		}
	})
}

// Each transaction is timed by kind. An error the transaction's own
// function chose (a missing record, a refused request) is no store error;
// a failed Tx call or a failed commit is.
func TestObservedStoreCountsStoreFailures(t *testing.T) {
	m := New(nil)
	bst, err := bolt.Open(filepath.Join(t.TempDir(), "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bst.Close() })
	ctx := context.Background()
	st := m.Store(bst)
	bucket := []byte("b")
	refused := errors.New("refused")
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.Put(bucket, []byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := st.View(ctx, func(tx store.Tx) error { _, err := tx.Get(bucket, []byte("missing")); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("View of a missing record = %v", err)
	}
	if err := st.Update(ctx, func(store.Tx) error { return refused }); err != refused {
		t.Fatalf("Update = %v, want fn's error unchanged", err)
	}
	got := scrape(t, m)
	for series, want := range map[string]float64{
		`kmsd_store_transaction_duration_seconds_count{op="view"}`:   1,
		`kmsd_store_transaction_duration_seconds_count{op="update"}`: 2,
		`kmsd_store_errors_total{op="view"}`:                         0,
		`kmsd_store_errors_total{op="update"}`:                       0,
	} {
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}

	broken := m.Store(brokenStore{})
	// A Tx call fails and fn passes the failure on.
	_ = broken.Update(ctx, func(tx store.Tx) error { return tx.Put(bucket, []byte("k"), []byte("v")) })
	// A read fails, and fn wraps it.
	_ = broken.View(ctx, func(tx store.Tx) error {
		if _, err := tx.Scan(bucket, nil, nil, 0); err != nil {
			return errors.Join(refused, err)
		}
		return nil
	})
	// The commit fails after fn succeeded.
	_ = m.Store(brokenStore{commitFails: true}).Update(ctx, func(store.Tx) error { return nil })
	got = scrape(t, m)
	if v := got[`kmsd_store_errors_total{op="update"}`]; v != 2 {
		t.Errorf("update errors = %v, want 2", v)
	}
	if v := got[`kmsd_store_errors_total{op="view"}`]; v != 1 {
		t.Errorf("view errors = %v, want 1", v)
	}
}

var errDisk = errors.New("disk I/O error")

// brokenStore fails every Tx call, or every commit.
type brokenStore struct{ commitFails bool }

func (s brokenStore) View(_ context.Context, fn func(store.Tx) error) error {
	return fn(brokenTx{})
}

func (s brokenStore) Update(_ context.Context, fn func(store.Tx) error) error {
	if err := fn(brokenTx{}); err != nil {
		return err
	}
	if s.commitFails {
		return errDisk
	}
	return nil
}

func (brokenStore) Close() error { return nil }

type brokenTx struct{}

func (brokenTx) Get(_, _ []byte) ([]byte, error)                { return nil, errDisk }
func (brokenTx) Put(_, _, _ []byte) error                       { return errDisk }
func (brokenTx) Delete(_, _ []byte) error                       { return errDisk }
func (brokenTx) Scan(_, _, _ []byte, _ int) ([]store.KV, error) { return nil, errDisk }
