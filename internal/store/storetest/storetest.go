package storetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/kmsd/kmsd/internal/store"
)

// Factory makes a fresh, empty backing location (a file, a schema) for one
// subtest and returns a function that opens a Store on it. open is called
// again after Close to check what survived; cleanup of the location belongs
// to t.Cleanup.
type Factory func(t *testing.T) (open func() (store.Store, error))

// Option adjusts the suite to a kind of backend.
type Option func(*options)

type options struct{ volatile bool }

// Volatile is for a backend that keeps nothing once closed, such as an
// in-memory store: the checks that reopen a closed store to find its data
// are left out, and every other check still runs.
func Volatile() Option { return func(o *options) { o.volatile = true } }

// Run runs the conformance suite against the backend made by f.
func Run(t *testing.T, f Factory, opts ...Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"Lend", testLend},
		{"Has", testHas},
		{"BucketIsolation", testBucketIsolation},
		{"ReadYourWrites", testReadYourWrites},
		{"InvalidNames", testInvalidNames},
		{"ReadOnlyView", testReadOnlyView},
		{"Scan", testScan},
		{"ScanPagination", testScanPagination},
		{"RollbackOnError", testRollbackOnError},
		{"RollbackOnPanic", testRollbackOnPanic},
		{"Context", testContext},
		{"ConcurrentCounter", testConcurrentCounter},
		{"SnapshotView", testSnapshotView},
		{"WriteSkew", testWriteSkew},
		{"Ownership", testOwnership},
		{"ValueSizes", func(t *testing.T, f Factory) { testValueSizes(t, f, !o.volatile) }},
	}
	if !o.volatile {
		tests = append(tests, struct {
			name string
			fn   func(*testing.T, Factory)
		}{"Durability", testDurability})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, f) })
	}
}

// openFresh opens a store on a new location and closes it when t ends.
func openFresh(t *testing.T, f Factory) store.Store {
	t.Helper()
	return mustOpen(t, f(t))
}

// mustOpen opens a store and closes it when t ends, unless the test closed
// it first.
func mustOpen(t *testing.T, open func() (store.Store, error)) store.Store {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	c := &closeOnce{Store: s}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// closeOnce keeps the suite from requiring that Close be idempotent.
type closeOnce struct {
	store.Store
	once sync.Once
	err  error
}

func (c *closeOnce) Close() error {
	c.once.Do(func() { c.err = c.Store.Close() })
	return c.err
}

func update(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func put(t *testing.T, s store.Store, bucket, key string, value []byte) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		return tx.Put([]byte(bucket), []byte(key), value)
	})
}

// get reads one key in its own View.
func get(t *testing.T, s store.Store, bucket, key string) ([]byte, error) {
	t.Helper()
	var v []byte
	var getErr error
	view(t, s, func(tx store.Tx) error {
		v, getErr = tx.Get([]byte(bucket), []byte(key))
		return nil
	})
	return v, getErr
}

func wantValue(t *testing.T, s store.Store, bucket, key string, want []byte) {
	t.Helper()
	got, err := get(t, s, bucket, key)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v, want %q", bucket, key, err, short(want))
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q, %q) = %q, want %q", bucket, key, short(got), short(want))
	}
}

func wantMissing(t *testing.T, s store.Store, bucket, key string) {
	t.Helper()
	got, err := get(t, s, bucket, key)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q, %q) = %q, %v; want ErrNotFound", bucket, key, short(got), err)
	}
}

// scanAll scans a whole bucket in its own View.
func scanAll(t *testing.T, s store.Store, bucket string) []store.KV {
	t.Helper()
	var kvs []store.KV
	view(t, s, func(tx store.Tx) error {
		var err error
		kvs, err = tx.Scan([]byte(bucket), nil, nil, 0)
		return err
	})
	return kvs
}

// short keeps failure messages about large values readable.
func short(b []byte) []byte {
	if len(b) > 64 {
		return append(b[:60:60], "..."...)
	}
	return b
}

// keysOf returns the keys of kvs as strings.
func keysOf(kvs []store.KV) []string {
	keys := make([]string, len(kvs))
	for i, kv := range kvs {
		keys[i] = string(kv.Key)
	}
	return keys
}
