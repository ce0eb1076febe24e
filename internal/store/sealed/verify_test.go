package sealed_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/sealed"
)

// Verify reads every record and names each one that fails, by bucket and
// key, without its value; the others still count as read.
func TestVerifyNamesEveryAlteredRecord(t *testing.T) {
	f := newFixture(t)
	for i := range 1200 { // more than one page of the walk
		put(t, f.store, "keys", fmt.Sprintf("k%04d", i), []byte("secret-looking value"))
	}
	put(t, f.store, "aliases", "alias/a", []byte("k0001"))

	v, err := f.store.Verify(t.Context(), func(err error) { t.Errorf("intact store: %v", err) })
	if err != nil || v != (sealed.Verified{Buckets: 2, Records: 1201}) {
		t.Fatalf("intact store: %+v, %v", v, err)
	}

	// Edit one value, move another under a new key, on disk.
	rec, err := get(t, f.raw, "keys", "k0700")
	if err != nil {
		t.Fatal(err)
	}
	rec[sealed.Overhead] ^= 1
	put(t, f.raw, "keys", "k0700", rec)
	moved, _ := get(t, f.raw, "aliases", "alias/a")
	put(t, f.raw, "aliases", "alias/b", moved)

	var bad []error
	v, err = f.store.Verify(t.Context(), func(err error) { bad = append(bad, err) })
	if err != nil || v != (sealed.Verified{Buckets: 2, Records: 1202, Failed: 2}) {
		t.Fatalf("altered store: %+v, %v", v, err)
	}
	want := []string{`bucket "aliases", key "alias/b"`, `bucket "keys", key "k0700"`}
	for i, e := range bad {
		if !errors.Is(e, sealed.ErrNotAuthentic) || !strings.Contains(e.Error(), want[i]) || strings.Contains(e.Error(), "secret-looking") {
			t.Errorf("problem %d: %v, want ErrNotAuthentic naming %s and no value", i, e, want[i])
		}
	}
}

// OpenReadOnly writes nothing: a store without a check record is refused
// rather than adopted, and a foreign keyring is refused as Open does.
func TestOpenReadOnly(t *testing.T) {
	f := newFixture(t)
	put(t, f.store, "keys", "k", []byte("v"))
	f.close()
	raw := openRaw(t, f.dir)

	fps, err := sealed.Fingerprints(t.Context(), raw)
	if err != nil || len(fps) != 1 || fmt.Sprintf("%x", fps[0].CheckValue) != fingerprint(t, f.ring, 1) {
		t.Fatalf("Fingerprints = %v, %v", fps, err)
	}
	s, err := sealed.OpenReadOnly(t.Context(), raw, sealed.Config{Keyring: f.ring})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := get(t, s, "keys", "k"); err != nil || string(v) != "v" {
		t.Fatalf("read: %q, %v", v, err)
	}
	if s.Backend() != raw {
		t.Error("Backend is not the store beneath")
	}

	foreign := newKeyring(t, t.TempDir())
	_, err = sealed.OpenReadOnly(t.Context(), raw, sealed.Config{Keyring: foreign, KeyringPath: "other/root.key"})
	var ke *sealed.KeyringError
	if !errors.As(err, &ke) || len(ke.Expected) != 1 || len(ke.Found) != 1 {
		t.Fatalf("foreign keyring: %v", err)
	}

	legacy := openRaw(t, t.TempDir())
	put(t, legacy, "keys", "k", []byte("v"))
	if _, err := sealed.OpenReadOnly(t.Context(), legacy, sealed.Config{Keyring: f.ring}); !errors.Is(err, sealed.ErrNoCheck) {
		t.Fatalf("store without a check record: %v", err)
	}
	if _, err := sealed.Fingerprints(t.Context(), legacy); !errors.Is(err, sealed.ErrNoCheck) {
		t.Fatalf("Fingerprints without a check record: %v", err)
	}
	err = legacy.View(t.Context(), func(tx store.Tx) error {
		_, err := tx.Get([]byte("store-meta"), []byte("root-keyring"))
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OpenReadOnly wrote a check record: %v", err)
	}
}
