package sealed_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/bolt"
	"github.com/kmsd/kmsd/internal/store/sealed"
	"github.com/kmsd/kmsd/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() (store.Store, error) {
		dir := t.TempDir()
		ring := newKeyring(t, dir)
		return func() (store.Store, error) {
			inner, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
			if err != nil {
				return nil, err
			}
			s, err := sealed.Open(context.Background(), inner, sealed.Config{Keyring: ring, KeyringPath: "root.key"})
			if err != nil {
				inner.Close()
			}
			return s, err
		}
	})
}

func newKeyring(t *testing.T, dir string) *seal.FileSeal {
	t.Helper()
	ring, err := seal.Create(filepath.Join(dir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// fixture is a sealed store over bbolt, with the raw store beside it for
// editing what is on disk.
type fixture struct {
	t     *testing.T
	dir   string
	ring  *seal.FileSeal
	raw   *bolt.Store
	store *sealed.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, ring: newKeyring(t, dir)}
	f.open()
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	raw, err := bolt.Open(filepath.Join(f.dir, "kmsd.db"))
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := sealed.Open(context.Background(), raw, sealed.Config{Keyring: f.ring, KeyringPath: filepath.Join(f.dir, "root.key")})
	if err != nil {
		raw.Close()
		f.t.Fatal(err)
	}
	f.raw, f.store = raw, s
	f.t.Cleanup(func() { _ = s.Close() })
}

func (f *fixture) close() {
	f.t.Helper()
	if err := f.store.Close(); err != nil {
		f.t.Fatal(err)
	}
}

func put(t *testing.T, s store.Store, bucket, key string, value []byte) {
	t.Helper()
	if err := s.Update(t.Context(), func(tx store.Tx) error { return tx.Put([]byte(bucket), []byte(key), value) }); err != nil {
		t.Fatalf("Put(%s, %s): %v", bucket, key, err)
	}
}

func get(t *testing.T, s store.Store, bucket, key string) ([]byte, error) {
	t.Helper()
	var v []byte
	var getErr error
	if err := s.View(t.Context(), func(tx store.Tx) error {
		v, getErr = tx.Get([]byte(bucket), []byte(key))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v, getErr
}

func scan(t *testing.T, s store.Store, bucket string) ([]store.KV, error) {
	t.Helper()
	var kvs []store.KV
	var scanErr error
	if err := s.View(t.Context(), func(tx store.Tx) error {
		kvs, scanErr = tx.Scan([]byte(bucket), nil, nil, 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return kvs, scanErr
}

const canary = "canary-plaintext-0123456789"

// TestRefusesTamperedRecords edits the raw store the ways an attacker with
// write access would; each edited record is refused by Get and Scan with
// ErrNotAuthentic, its value never returned or printed, and the untouched
// records still read.
func TestRefusesTamperedRecords(t *testing.T) {
	f := newFixture(t)
	valA := []byte(`{"keyState":"Disabled","note":"` + canary + `"}`)
	valB := []byte(`{"keyState":"Enabled","note":"b"}`)
	put(t, f.store, "keys", "acct/region/A", valA)
	put(t, f.store, "keys", "acct/region/B", valB)
	put(t, f.store, "aliases", "acct/region/A", valA)
	put(t, f.store, "keys", "acct/region/keep", []byte("untouched"))

	other := newFixture(t) // another data directory, its own root keyring
	put(t, other.store, "keys", "acct/region/A", []byte(`{"keyState":"Enabled"}`))

	raw := func(s *bolt.Store, bucket, key string) []byte {
		v, err := get(t, s, bucket, key)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	recA, recB := raw(f.raw, "keys", "acct/region/A"), raw(f.raw, "keys", "acct/region/B")
	if !bytes.Contains(recA, valA) {
		t.Fatalf("stored record does not hold the value in the clear (format changed?): %q", recA)
	}
	edit := func(fn func([]byte) []byte) []byte { return fn(bytes.Clone(recA)) }

	cases := []struct {
		name string
		rec  []byte
	}{
		{"edited value", edit(func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"Disabled"`), []byte(`"Enabled"`), 1)
		})},
		{"same-length edit", edit(func(b []byte) []byte { return bytes.Replace(b, []byte("Disabled"), []byte("Disablef"), 1) })},
		{"value of key B under key A", recB},
		{"value of bucket aliases under bucket keys", raw(f.raw, "aliases", "acct/region/A")},
		{"record of another store (other root keyring)", raw(other.raw, "keys", "acct/region/A")},
		{"bare value as written before records were tagged", valA},
		{"empty", []byte{}},
		{"tag only", recA[len(recA)-sealed.Overhead:]},
		{"appended byte", append(bytes.Clone(recA), 0)},
		{"unknown record version", edit(func(b []byte) []byte { b[0] = 2; return b })},
		{"unknown root key id", edit(func(b []byte) []byte { b[4] = 9; return b })},
	}
	for n := range len(recA) {
		cases = append(cases, struct {
			name string
			rec  []byte
		}{"truncated", recA[:n]})
	}
	for i := range len(recA) * 8 {
		b := bytes.Clone(recA)
		b[i/8] ^= 1 << (i % 8)
		cases = append(cases, struct {
			name string
			rec  []byte
		}{"bit flipped", b})
	}
	for _, c := range cases {
		put(t, f.raw, "keys", "acct/region/A", c.rec)
		v, err := get(t, f.store, "keys", "acct/region/A")
		if !errors.Is(err, sealed.ErrNotAuthentic) || v != nil {
			t.Fatalf("%s: Get = %q, %v; want nil, ErrNotAuthentic", c.name, v, err)
		}
		if strings.Contains(err.Error(), canary) || !strings.Contains(err.Error(), `"keys"`) || !strings.Contains(err.Error(), `"acct/region/A"`) {
			t.Fatalf("%s: error should name bucket and key but not the value: %v", c.name, err)
		}
		if kvs, err := scan(t, f.store, "keys"); !errors.Is(err, sealed.ErrNotAuthentic) || kvs != nil {
			t.Fatalf("%s: Scan = %d pairs, %v; want ErrNotAuthentic", c.name, len(kvs), err)
		}
	}

	// Putting the authentic record back makes it readable again, and the
	// other records were never affected.
	put(t, f.raw, "keys", "acct/region/A", recA)
	if v, err := get(t, f.store, "keys", "acct/region/A"); err != nil || !bytes.Equal(v, valA) {
		t.Fatalf("restored record: %q, %v", v, err)
	}
	if v, err := get(t, f.store, "keys", "acct/region/keep"); err != nil || string(v) != "untouched" {
		t.Fatalf("untouched record: %q, %v", v, err)
	}
}

func TestReservedBucket(t *testing.T) {
	f := newFixture(t)
	err := f.store.Update(t.Context(), func(tx store.Tx) error {
		return tx.Put([]byte("store-meta"), []byte("root-keyring"), []byte("{}"))
	})
	if err == nil {
		t.Fatal("a caller replaced the store's check record")
	}
	if _, err := get(t, f.store, "store-meta", "root-keyring"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of the check record: %v, want a refusal", err)
	}
	if _, err := scan(t, f.store, "store-meta"); err == nil {
		t.Fatal("Scan of the check record's bucket succeeded")
	}
}

// After a root key rotation new records are tagged under the new key, old
// ones still read, and the store records the new key's check value.
func TestRootKeyRotation(t *testing.T) {
	f := newFixture(t)
	put(t, f.store, "b", "old", []byte("old"))
	id, err := f.ring.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	put(t, f.store, "b", "new", []byte("new"))
	rec, _ := get(t, f.raw, "b", "new")
	if got := uint32(rec[1])<<24 | uint32(rec[2])<<16 | uint32(rec[3])<<8 | uint32(rec[4]); got != id {
		t.Fatalf("new record names root key %d, want %d", got, id)
	}
	f.close()
	f.open()
	for _, k := range []string{"old", "new"} {
		if v, err := get(t, f.store, "b", k); err != nil || string(v) != k {
			t.Fatalf("after rotation and reopen, %s: %q, %v", k, v, err)
		}
	}
	f.close()

	// The grown check record now expects both keys: a keyring holding only
	// the first one is refused.
	var ke *sealed.KeyringError
	raw, err := bolt.Open(filepath.Join(f.dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_, err = sealed.Open(t.Context(), raw, sealed.Config{Keyring: firstKeyOnly{f.ring}, KeyringPath: "root.key"})
	if !errors.As(err, &ke) || len(ke.Expected) != 2 {
		t.Fatalf("keyring without the rotated key: %v, want a KeyringError expecting 2 keys", err)
	}
}

// firstKeyOnly hides every root key but the first, like an old backup of
// the keyring file.
type firstKeyOnly struct{ *seal.FileSeal }

func (k firstKeyOnly) ActiveID() uint32 { return 1 }
func (k firstKeyOnly) KeyIDs() []uint32 { return []uint32{1} }
