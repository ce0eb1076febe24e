package sealed_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/bolt"
	"github.com/kmsd/kmsd/internal/store/sealed"
)

func openRaw(t *testing.T, dir string) *bolt.Store {
	t.Helper()
	raw, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return raw
}

func fingerprint(t *testing.T, ring *seal.FileSeal, id uint32) string {
	t.Helper()
	cv, err := ring.CheckValue(id)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", cv)
}

// A store refuses the keyring of another data directory, naming where it
// looked, the fingerprint it expects and the one it found.
func TestOpenRefusesForeignKeyring(t *testing.T) {
	f := newFixture(t)
	put(t, f.store, "keys", "k", []byte("v"))
	f.close()
	foreign := newKeyring(t, t.TempDir())
	path := filepath.Join(f.dir, "root.key")

	raw := openRaw(t, f.dir)
	_, err := sealed.Open(t.Context(), raw, sealed.Config{Keyring: foreign, KeyringPath: path})
	var ke *sealed.KeyringError
	if !errors.As(err, &ke) || ke.Missing {
		t.Fatalf("Open with a foreign keyring: %v, want a KeyringError", err)
	}
	for _, want := range []string{path, "expected root key 1 with fingerprint " + fingerprint(t, f.ring, 1), "found root key 1 with fingerprint " + fingerprint(t, foreign, 1)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// Nothing was written: the store still opens with its own keyring.
	s, err := sealed.Open(t.Context(), raw, sealed.Config{Keyring: f.ring, KeyringPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := get(t, s, "keys", "k"); err != nil || string(v) != "v" {
		t.Fatalf("after the refused open: %q, %v", v, err)
	}
}

func TestCanCreateKeyring(t *testing.T) {
	dir := t.TempDir()
	raw := openRaw(t, dir)
	if err := sealed.CanCreateKeyring(t.Context(), raw, "root.key"); err != nil {
		t.Fatalf("brand new store: %v", err)
	}
	// Buckets emptied again still count as empty.
	put(t, raw, "b", "k", []byte("v"))
	if err := raw.Update(t.Context(), func(tx store.Tx) error { return tx.Delete([]byte("b"), []byte("k")) }); err != nil {
		t.Fatal(err)
	}
	if err := sealed.CanCreateKeyring(t.Context(), raw, "root.key"); err != nil {
		t.Fatalf("store with an emptied bucket: %v", err)
	}

	// A store written before check values were kept: refused, no fingerprint.
	put(t, raw, "keys", "k", []byte("v"))
	err := sealed.CanCreateKeyring(t.Context(), raw, "/data/root.key")
	var ke *sealed.KeyringError
	if !errors.As(err, &ke) || !ke.Missing || len(ke.Expected) != 0 || !strings.Contains(err.Error(), "/data/root.key is missing") {
		t.Fatalf("legacy store: %v", err)
	}

	// A store that recorded its keyring: refused, naming the fingerprint,
	// even before any record of its own was written.
	ring := newKeyring(t, dir)
	fresh := openRaw(t, t.TempDir())
	if _, err := sealed.Open(t.Context(), fresh, sealed.Config{Keyring: ring}); err != nil {
		t.Fatal(err)
	}
	err = sealed.CanCreateKeyring(t.Context(), fresh, "/data/root.key")
	if !errors.As(err, &ke) || !ke.Missing || !strings.Contains(err.Error(), "expected root key 1 with fingerprint "+fingerprint(t, ring, 1)) {
		t.Fatalf("sealed store: %v", err)
	}
}

// legacyStore writes values the way kmsd did before records were tagged.
func legacyStore(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	raw, err := bolt.Open(filepath.Join(dir, "kmsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	err = raw.Update(t.Context(), func(tx store.Tx) error {
		for _, b := range []string{"keys", "aliases", "access-keys"} {
			for i := range 700 { // more than one adoption page
				k, v := fmt.Sprintf("acct/region/%04d", i), fmt.Sprintf("%s value %d", b, i)
				want[b+"|"+k] = v
				if err := tx.Put([]byte(b), []byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()
	return dir, want
}

func TestAdoptLegacyStore(t *testing.T) {
	dir, want := legacyStore(t)
	ring := newKeyring(t, dir)
	raw := openRaw(t, dir)
	probed := 0
	probe := func(tx store.Tx) (bool, bool, error) {
		probed++
		// The probe reads the store's values as they are on disk.
		v, err := tx.Get([]byte("keys"), []byte("acct/region/0000"))
		return true, err == nil && string(v) == "keys value 0", err
	}
	s, err := sealed.Open(t.Context(), raw, sealed.Config{Keyring: ring, KeyringPath: "root.key", Probe: probe})
	if err != nil || probed != 1 {
		t.Fatalf("adopt: %v (probed %d times)", err, probed)
	}
	for bk, v := range want {
		b, k, _ := strings.Cut(bk, "|")
		if got, err := get(t, s, b, k); err != nil || string(got) != v {
			t.Fatalf("%s after adoption: %q, %v", bk, got, err)
		}
		// On disk the value is now tagged: a bare copy is refused.
		if rec, _ := get(t, raw, b, k); len(rec) != len(v)+sealed.Overhead {
			t.Fatalf("%s is not tagged on disk: %q", bk, rec)
		}
	}
	// Adoption happens once: the next open finds the check record.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw = openRaw(t, dir)
	if _, err := sealed.Open(t.Context(), raw, sealed.Config{Keyring: ring, Probe: probe}); err != nil || probed != 1 {
		t.Fatalf("reopen: %v (probed %d times)", err, probed)
	}
}

// A legacy store whose sealed values the keyring cannot unseal is not
// adopted, and is left exactly as it was.
func TestAdoptRefusesKeyringThatDoesNotUnseal(t *testing.T) {
	dir, _ := legacyStore(t)
	foreign := newKeyring(t, t.TempDir())
	raw := openRaw(t, dir)
	path := filepath.Join(dir, "root.key")
	_, err := sealed.Open(t.Context(), raw, sealed.Config{Keyring: foreign, KeyringPath: path, Probe: func(store.Tx) (bool, bool, error) {
		return true, false, nil
	}})
	var ke *sealed.KeyringError
	if !errors.As(err, &ke) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fingerprint(t, foreign, 1)) {
		t.Fatalf("Open: %v, want a KeyringError naming the path and the found fingerprint", err)
	}
	if v, err := get(t, raw, "keys", "acct/region/0001"); err != nil || string(v) != "keys value 1" {
		t.Fatalf("refused adoption changed a value: %q, %v", v, err)
	}
	if err := sealed.CanCreateKeyring(t.Context(), raw, path); !errors.As(err, &ke) || len(ke.Expected) != 0 {
		t.Fatalf("refused adoption recorded a check value: %v", err)
	}
}

// Two stores may share a root keyring (a copied root.key); a record copied
// from one into the other is still refused, because the record key names
// the store.
func TestRecordOfAnotherStoreWithSameKeyring(t *testing.T) {
	ringDir := t.TempDir()
	ring := newKeyring(t, ringDir)
	open := func() (*bolt.Store, *sealed.Store) {
		raw := openRaw(t, t.TempDir())
		s, err := sealed.Open(context.Background(), raw, sealed.Config{Keyring: ring})
		if err != nil {
			t.Fatal(err)
		}
		return raw, s
	}
	rawA, a := open()
	rawB, b := open()
	put(t, a, "keys", "k", []byte(`{"from":"A"}`))
	put(t, b, "keys", "k", []byte(`{"from":"B"}`))
	recA, _ := get(t, rawA, "keys", "k")
	put(t, rawB, "keys", "k", recA)
	if v, err := get(t, b, "keys", "k"); !errors.Is(err, sealed.ErrNotAuthentic) {
		t.Fatalf("record of store A in store B: %q, %v", v, err)
	}
}

// A legacy store in which the probe finds nothing sealed is adopted on
// trust, with a warning; a probe that cannot read the store stops the open
// without blaming the keyring.
func TestAdoptWithoutSealedValues(t *testing.T) {
	dir, want := legacyStore(t)
	ring := newKeyring(t, dir)
	raw := openRaw(t, dir)
	readErr := errors.New("disk on fire")
	_, err := sealed.Open(t.Context(), raw, sealed.Config{Keyring: ring, Probe: func(store.Tx) (bool, bool, error) { return false, false, readErr }})
	var ke *sealed.KeyringError
	if !errors.Is(err, readErr) || errors.As(err, &ke) {
		t.Fatalf("probe read error: %v", err)
	}

	var logs strings.Builder
	s, err := sealed.Open(t.Context(), raw, sealed.Config{
		Keyring: ring, KeyringPath: "root.key", Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Probe: func(store.Tx) (bool, bool, error) { return false, false, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := get(t, s, "aliases", "acct/region/0003"); err != nil || string(v) != want["aliases|acct/region/0003"] {
		t.Fatalf("adopted value: %q, %v", v, err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "on trust") || !strings.Contains(logs.String(), "records=2100") {
		t.Fatalf("adoption on trust was not logged as a warning:\n%s", logs.String())
	}
}
