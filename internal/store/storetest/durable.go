package storetest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/kmsd/kmsd/internal/store"
)

func testOwnership(t *testing.T, f Factory) {
	s := openFresh(t, f)
	b := []byte("b")
	original := []byte("original")

	// Put's arguments belong to the caller again once Put returns, even
	// before the commit.
	key, val := []byte("k"), slices.Clone(original)
	update(t, s, func(tx store.Tx) error {
		if err := tx.Put(b, key, val); err != nil {
			return err
		}
		key[0], val[0] = 'X', 'X'
		if got, err := tx.Get(b, []byte("k")); err != nil || !bytes.Equal(got, original) {
			t.Errorf("after mutating Put's arguments, Get in the same tx = %q, %v; want %q", got, err, original)
		}
		return nil
	})
	val[1] = 'Y'
	wantValue(t, s, "b", "k", original)
	wantMissing(t, s, "b", "X")

	// Results of Get and Scan belong to the caller, in read and write
	// transactions alike.
	mutateResults := func(tx store.Tx) error {
		v, err := tx.Get(b, []byte("k"))
		if err != nil {
			return err
		}
		v[0] = 'Z'
		kvs, err := tx.Scan(b, nil, nil, 0)
		if err != nil {
			return err
		}
		kvs[0].Key[0], kvs[0].Value[0] = 'Z', 'Z'
		if v, err := tx.Get(b, []byte("k")); err != nil || !bytes.Equal(v, original) {
			t.Errorf("after mutating results, Get = %q, %v; want %q", v, err, original)
		}
		if kvs, err := tx.Scan(b, nil, nil, 0); err != nil || len(kvs) != 1 ||
			string(kvs[0].Key) != "k" || !bytes.Equal(kvs[0].Value, original) {
			t.Errorf("after mutating results, Scan = %q, %v; want [k]", keysOf(kvs), err)
		}
		return nil
	}
	view(t, s, mutateResults)
	update(t, s, mutateResults)
	wantValue(t, s, "b", "k", original)

	// Results stay valid after the transaction ends, even once the backend
	// has grown and rewritten its storage.
	var kept []byte
	var keptKVs []store.KV
	view(t, s, func(tx store.Tx) error {
		var err error
		if kept, err = tx.Get(b, []byte("k")); err != nil {
			return err
		}
		keptKVs, err = tx.Scan(b, nil, nil, 0)
		return err
	})
	big := randomBytes(4 << 20)
	update(t, s, func(tx store.Tx) error {
		if err := tx.Put(b, []byte("k"), []byte("rewritten")); err != nil {
			return err
		}
		return tx.Put([]byte("big"), []byte("k"), big)
	})
	update(t, s, func(tx store.Tx) error { return tx.Delete([]byte("big"), []byte("k")) })
	if !bytes.Equal(kept, original) {
		t.Errorf("Get result changed after its tx ended: %q", short(kept))
	}
	if len(keptKVs) != 1 || string(keptKVs[0].Key) != "k" || !bytes.Equal(keptKVs[0].Value, original) {
		t.Errorf("Scan result changed after its tx ended: %q", keysOf(keptKVs))
	}
}

func testValueSizes(t *testing.T, f Factory, reopen bool) {
	open := f(t)
	s := mustOpen(t, open)

	values := map[string][]byte{
		"empty": {},
		"nil":   nil, // stored as 0 bytes
		"1MiB":  randomBytes(1 << 20),
	}
	check := func(when string, tx store.Tx) {
		for k, want := range values {
			got, err := tx.Get([]byte("b"), []byte(k))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: Get(%s) = %d bytes, %v; want %d bytes", when, k, len(got), err, len(want))
			}
		}
		kvs, err := tx.Scan([]byte("b"), nil, nil, 0)
		if err != nil || len(kvs) != len(values) {
			t.Errorf("%s: Scan = %q, %v; want %d keys", when, keysOf(kvs), err, len(values))
			return
		}
		for _, kv := range kvs {
			if want := values[string(kv.Key)]; !bytes.Equal(kv.Value, want) {
				t.Errorf("%s: Scan value of %s = %d bytes, want %d", when, kv.Key, len(kv.Value), len(want))
			}
		}
	}

	update(t, s, func(tx store.Tx) error {
		for k, v := range values {
			if err := tx.Put([]byte("b"), []byte(k), v); err != nil {
				return fmt.Errorf("put %s: %w", k, err)
			}
		}
		check("in the writing tx", tx)
		return nil
	})
	view(t, s, func(tx store.Tx) error { check("after commit", tx); return nil })
	if !reopen {
		return
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = mustOpen(t, open)
	view(t, s, func(tx store.Tx) error { check("after reopen", tx); return nil })
}

// testDurability checks that what Update acknowledged survives Close and
// reopening, more than once.
func testDurability(t *testing.T, f Factory) {
	open := f(t)
	s := mustOpen(t, open)

	want := map[string]string{}
	for i := range 20 {
		k := fmt.Sprintf("k%02d", i)
		put(t, s, "b", k, []byte("v"+k))
		want[k] = "v" + k
	}
	put(t, s, "b", "k00", []byte("overwritten"))
	want["k00"] = "overwritten"
	update(t, s, func(tx store.Tx) error { return tx.Delete([]byte("b"), []byte("k01")) })
	delete(want, "k01")
	put(t, s, "other", "k", []byte("x"))

	verify := func(s store.Store) {
		t.Helper()
		kvs := scanAll(t, s, "b")
		got := map[string]string{}
		for _, kv := range kvs {
			got[string(kv.Key)] = string(kv.Value)
		}
		if len(got) != len(want) {
			t.Errorf("after reopen: %d keys, want %d", len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("after reopen: %s = %q, want %q", k, got[k], v)
			}
		}
		wantValue(t, s, "other", "k", []byte("x"))
	}

	for range 2 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		s = mustOpen(t, open)
		verify(s)
		put(t, s, "b", "k99", []byte("late"))
		want["k99"] = "late"
	}
}

// randomBytes returns n bytes that do not compress, so no backend stores
// them specially.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(b)
	return b
}
