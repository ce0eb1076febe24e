package sealed_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store/bolt"
	"github.com/kmsd/kmsd/internal/store/sealed"
)

// tagKeyID is the root key id a raw record names in its header.
func tagKeyID(t *testing.T, raw *bolt.Store, bucket, key string) uint32 {
	t.Helper()
	v, err := get(t, raw, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint32(v[1:5])
}

// TestResealMovesRecordsToNewRootKey rotates the root key, stops a Reseal
// after its first page, runs it again to the end, then forgets the old
// root key: every record reads with a keyring that no longer holds it.
func TestResealMovesRecordsToNewRootKey(t *testing.T) {
	f := newFixture(t)
	for i := range 10 {
		put(t, f.store, "keys", fmt.Sprintf("k%02d", i), []byte(fmt.Sprintf("value %d", i)))
	}
	put(t, f.store, "aliases", "a", []byte("change me"))
	if _, err := f.ring.Rotate(); err != nil {
		t.Fatal(err)
	}
	change := func(bucket, key, value []byte) ([]byte, error) {
		if string(bucket) == "aliases" && string(value) == "change me" {
			return []byte("changed"), nil
		}
		return nil, nil
	}
	stop := errors.New("stopped")
	// Buckets go in order: aliases (1 record), then keys by pages of 4.
	st, err := f.store.Reseal(t.Context(), 4, change, func(s sealed.ResealStats) error {
		if s.Rewritten >= 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || st.Rewritten != 5 {
		t.Fatalf("first Reseal: %+v, %v", st, err)
	}
	// The old root key is still needed: forgetting it is refused.
	if err := f.store.ForgetRootKey(t.Context(), 1, nil); err == nil || !strings.Contains(err.Error(), "still authenticated under root key 1") {
		t.Fatalf("ForgetRootKey mid-way: %v", err)
	}
	st, err = f.store.Reseal(t.Context(), 4, change, nil)
	if err != nil || st.Records != 11 || st.Rewritten != 6 {
		t.Fatalf("resumed Reseal: %+v, %v (want 11 read, 6 rewritten)", st, err)
	}
	if st, err = f.store.Reseal(t.Context(), 4, change, nil); err != nil || st.Rewritten != 0 {
		t.Fatalf("a finished Reseal wrote again: %+v, %v", st, err)
	}
	for i := range 10 {
		if id := tagKeyID(t, f.raw, "keys", fmt.Sprintf("k%02d", i)); id != 2 {
			t.Fatalf("record k%02d tagged under root key %d after Reseal", i, id)
		}
	}
	if v, _ := get(t, f.store, "aliases", "a"); string(v) != "changed" {
		t.Fatalf("aliases/a = %q, want the value fn returned", v)
	}

	refuse := errors.New("holds a blob sealed under key 1")
	if err := f.store.ForgetRootKey(t.Context(), 1, func(b, k, v []byte) error {
		if bytes.Equal(v, []byte("value 3")) {
			return refuse
		}
		return nil
	}); !errors.Is(err, refuse) {
		t.Fatalf("ForgetRootKey with a refusing check: %v", err)
	}
	if err := f.store.ForgetRootKey(t.Context(), 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.ring.Retire(1); err != nil {
		t.Fatal(err)
	}
	f.close()

	ring, err := seal.Open(filepath.Join(f.dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := bolt.Open(filepath.Join(f.dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sealed.Open(context.Background(), raw, sealed.Config{Keyring: ring, KeyringPath: "root.key"})
	if err != nil {
		raw.Close()
		t.Fatalf("open with the old root key retired: %v", err)
	}
	defer s.Close()
	kvs, err := scan(t, s, "keys")
	if err != nil || len(kvs) != 10 {
		t.Fatalf("scan after retiring: %d records, %v", len(kvs), err)
	}
}
