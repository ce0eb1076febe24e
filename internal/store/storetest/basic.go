package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/kmsd/kmsd/internal/store"
)

func testGetPutDelete(t *testing.T, f Factory) {
	s := openFresh(t, f)

	wantMissing(t, s, "never-written", "k")

	put(t, s, "b", "k", []byte("v1"))
	wantValue(t, s, "b", "k", []byte("v1"))
	wantMissing(t, s, "b", "other")

	put(t, s, "b", "k", []byte("v2"))
	wantValue(t, s, "b", "k", []byte("v2"))

	update(t, s, func(tx store.Tx) error { return tx.Delete([]byte("b"), []byte("k")) })
	wantMissing(t, s, "b", "k")

	// Deleting what is not there is not an error.
	update(t, s, func(tx store.Tx) error {
		if err := tx.Delete([]byte("b"), []byte("k")); err != nil {
			t.Errorf("Delete of a deleted key: %v", err)
		}
		if err := tx.Delete([]byte("b"), []byte("never")); err != nil {
			t.Errorf("Delete of a missing key: %v", err)
		}
		if err := tx.Delete([]byte("never-written"), []byte("k")); err != nil {
			t.Errorf("Delete in a never-written bucket: %v", err)
		}
		return nil
	})

	// A bucket emptied by Delete reads like one never written.
	if kvs := scanAll(t, s, "b"); len(kvs) != 0 {
		t.Errorf("Scan of emptied bucket = %q, want nothing", keysOf(kvs))
	}
	if kvs := scanAll(t, s, "never-written"); len(kvs) != 0 {
		t.Errorf("Scan of never-written bucket = %q, want nothing", keysOf(kvs))
	}
}

func testBucketIsolation(t *testing.T, f Factory) {
	s := openFresh(t, f)

	// Bucket and key pairs whose concatenations collide catch backends
	// that join bucket and key without a separator or length.
	update(t, s, func(tx store.Tx) error {
		for _, p := range [][3]string{
			{"a", "bc", "1"},
			{"ab", "c", "2"},
			{"a\x00", "x", "3"},
			{"a", "\x00x", "4"},
			{"b", "k", "5"},
			{"c", "k", "6"},
		} {
			if err := tx.Put([]byte(p[0]), []byte(p[1]), []byte(p[2])); err != nil {
				return err
			}
		}
		return nil
	})
	wantValue(t, s, "a", "bc", []byte("1"))
	wantValue(t, s, "ab", "c", []byte("2"))
	wantValue(t, s, "a\x00", "x", []byte("3"))
	wantValue(t, s, "a", "\x00x", []byte("4"))
	wantMissing(t, s, "a", "c")
	wantMissing(t, s, "ab", "bc")

	if got, want := keysOf(scanAll(t, s, "a")), []string{"\x00x", "bc"}; !slices.Equal(got, want) {
		t.Errorf("Scan(a) = %q, want %q", got, want)
	}

	update(t, s, func(tx store.Tx) error { return tx.Delete([]byte("b"), []byte("k")) })
	wantMissing(t, s, "b", "k")
	wantValue(t, s, "c", "k", []byte("6"))
}

// testReadYourWrites checks that a transaction sees its own uncommitted
// writes, through Get and Scan.
func testReadYourWrites(t *testing.T, f Factory) {
	s := openFresh(t, f)
	put(t, s, "b", "gone", []byte("x"))

	update(t, s, func(tx store.Tx) error {
		b := []byte("b")
		if err := tx.Put(b, []byte("new"), []byte("v")); err != nil {
			return err
		}
		if err := tx.Delete(b, []byte("gone")); err != nil {
			return err
		}
		if v, err := tx.Get(b, []byte("new")); err != nil || string(v) != "v" {
			t.Errorf("Get of own Put = %q, %v; want \"v\"", v, err)
		}
		if _, err := tx.Get(b, []byte("gone")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get of own Delete: %v, want ErrNotFound", err)
		}
		kvs, err := tx.Scan(b, nil, nil, 0)
		if err != nil {
			return err
		}
		if got := keysOf(kvs); !slices.Equal(got, []string{"new"}) {
			t.Errorf("Scan inside the writing tx = %q, want [new]", got)
		}
		return nil
	})
}

func testInvalidNames(t *testing.T, f Factory) {
	s := openFresh(t, f)
	for _, tc := range []struct {
		name        string
		bucket, key []byte
	}{
		{"nil key", []byte("b"), nil},
		{"empty key", []byte("b"), []byte{}},
		{"nil bucket", nil, []byte("k")},
		{"empty bucket", []byte{}, []byte("k")},
	} {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			return tx.Put(tc.bucket, tc.key, []byte("v"))
		})
		if err == nil {
			t.Errorf("Put with %s succeeded, want an error", tc.name)
		}
	}
	if kvs := scanAll(t, s, "b"); len(kvs) != 0 {
		t.Errorf("rejected Puts left %q behind", keysOf(kvs))
	}
}

func testReadOnlyView(t *testing.T, f Factory) {
	s := openFresh(t, f)
	put(t, s, "b", "k", []byte("v"))

	view(t, s, func(tx store.Tx) error {
		if err := tx.Put([]byte("b"), []byte("new"), []byte("v")); err == nil {
			t.Error("Put inside View succeeded, want an error")
		}
		if err := tx.Put([]byte("new-bucket"), []byte("k"), []byte("v")); err == nil {
			t.Error("Put into a new bucket inside View succeeded, want an error")
		}
		if err := tx.Delete([]byte("b"), []byte("k")); err == nil {
			t.Error("Delete inside View succeeded, want an error")
		}
		return nil
	})
	wantMissing(t, s, "b", "new")
	wantMissing(t, s, "new-bucket", "k")
	wantValue(t, s, "b", "k", []byte("v"))
}

// testLend: store.Lend reads what Get reads, in a View and after a write
// in the same Update, whether or not the Tx lends its own memory.
func testLend(t *testing.T, f Factory) {
	s := openFresh(t, f)
	put(t, s, "b", "k", []byte("v1"))
	check := func(tx store.Tx, key string, want []byte) {
		t.Helper()
		got, err := store.Lend(tx, []byte("b"), []byte(key))
		if want == nil {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Lend(%q) = %q, %v; want ErrNotFound", key, got, err)
			}
			return
		}
		if err != nil || string(got) != string(want) {
			t.Errorf("Lend(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	if err := s.View(t.Context(), func(tx store.Tx) error {
		check(tx, "k", []byte("v1"))
		check(tx, "missing", nil)
		if _, err := store.Lend(tx, []byte("never-written"), []byte("k")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Lend in a never-written bucket: %v, want ErrNotFound", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.Put([]byte("b"), []byte("k2"), []byte("v2")); err != nil {
			return err
		}
		check(tx, "k2", []byte("v2"))
		check(tx, "k", []byte("v1"))
		return nil
	})
}

// testHas: store.Has agrees with Get, in a View and after a write or a
// delete in the same Update, whether or not the Tx checks on its own.
func testHas(t *testing.T, f Factory) {
	s := openFresh(t, f)
	put(t, s, "b", "k", []byte("v1"))
	check := func(tx store.Tx, bucket, key string, want bool) {
		t.Helper()
		got, err := store.Has(tx, []byte(bucket), []byte(key))
		if err != nil || got != want {
			t.Errorf("Has(%q, %q) = %v, %v; want %v", bucket, key, got, err, want)
		}
	}
	if err := s.View(t.Context(), func(tx store.Tx) error {
		check(tx, "b", "k", true)
		check(tx, "b", "missing", false)
		check(tx, "never-written", "k", false)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.Put([]byte("b"), []byte("k2"), []byte("v2")); err != nil {
			return err
		}
		if err := tx.Delete([]byte("b"), []byte("k")); err != nil {
			return err
		}
		check(tx, "b", "k2", true)
		check(tx, "b", "k", false)
		return nil
	})
}
