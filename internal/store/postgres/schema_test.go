package postgres

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/kmsd/kmsd/internal/seal"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/sealed"
)

// TestConcurrentOpen opens several Stores at once on an empty schema, as
// nodes of a new cluster starting together do: every Open succeeds and the
// schema is created once.
func TestConcurrentOpen(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	dsn := freshDSN(t, server)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			s, err := Open(ctx, dsn)
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows, version int
	if err := conn.QueryRow(ctx, "SELECT count(*), max(version) FROM kmsd_schema").Scan(&rows, &version); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || version != schemaVersion {
		t.Errorf("kmsd_schema holds %d rows, version %d; want 1 row, version %d", rows, version, schemaVersion)
	}
}

// TestNewerSchemaRefused checks that a kmsd does not write to a database
// whose tables a newer kmsd laid out, and says so.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	dsn := freshDSN(t, server)
	s := openTest(t, dsn)
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.Put([]byte("b"), []byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "UPDATE kmsd_schema SET version = $1", schemaVersion+1); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, dsn)
	if err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	if errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "schema version 2") {
		t.Errorf("Open of a newer schema: %v; want an error naming the version, not ErrUnavailable", err)
	}
}

// TestBuckets lists the buckets that hold records, in byte order, for the
// tools that visit every record.
func TestBuckets(t *testing.T) {
	ctx := budget(t, 20*time.Second)
	s := openTest(t, freshDSN(t, server))
	list := func() [][]byte {
		t.Helper()
		var names [][]byte
		if err := s.View(ctx, func(tx store.Tx) (err error) {
			names, err = tx.(interface{ Buckets() ([][]byte, error) }).Buckets()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return names
	}
	if got := list(); len(got) != 0 {
		t.Errorf("Buckets of an empty store = %q", got)
	}
	names := []string{"keys", "a", "a\x00", "\xff", "\x00", "aliases"}
	if err := s.Update(ctx, func(tx store.Tx) error {
		for _, b := range names {
			for _, k := range []string{"k1", "k2"} {
				if err := tx.Put([]byte(b), []byte(k), nil); err != nil {
					return err
				}
			}
		}
		return tx.Delete([]byte("keys"), []byte("k1"))
	}); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(names)
	slices.Sort(want)
	if got := list(); !slices.EqualFunc(got, want, func(a []byte, b string) bool { return string(a) == b }) {
		t.Errorf("Buckets = %q, want %q", got, want)
	}

	// A bucket emptied by Delete is gone.
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Delete([]byte("keys"), []byte("k2")) }); err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(want, func(b string) bool { return b == "keys" })
	if got := list(); !slices.EqualFunc(got, want, func(a []byte, b string) bool { return string(a) == b }) {
		t.Errorf("Buckets after emptying keys = %q, want %q", got, want)
	}
}

// TestSealedOnPostgres runs the sealed layer, as the server stacks it, on a
// PostgreSQL store: it adopts records written before it (which needs
// Buckets), and refuses another root keyring.
func TestSealedOnPostgres(t *testing.T) {
	ctx := budget(t, 30*time.Second)
	s := openTest(t, freshDSN(t, server))
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.Put([]byte("keys"), []byte("k"), []byte("record"))
	}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	ring, err := seal.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sealed.CanCreateKeyring(ctx, s, path); err == nil {
		t.Error("CanCreateKeyring on a store holding records = nil, want a KeyringError")
	}
	ss, err := sealed.Open(ctx, s, sealed.Config{Keyring: ring, KeyringPath: path})
	if err != nil {
		t.Fatalf("sealed.Open adopting the store: %v", err)
	}
	var got []byte
	if err := ss.View(ctx, func(tx store.Tx) (err error) {
		got, err = tx.Get([]byte("keys"), []byte("k"))
		return err
	}); err != nil || string(got) != "record" {
		t.Fatalf("adopted record reads %q, %v", got, err)
	}

	foreign, err := seal.Create(filepath.Join(t.TempDir(), "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	var ke *sealed.KeyringError
	if _, err := sealed.Open(ctx, s, sealed.Config{Keyring: foreign, KeyringPath: path}); !errors.As(err, &ke) {
		t.Errorf("sealed.Open with another keyring: %v, want a KeyringError", err)
	}
}
