package schema_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/memory"
	"github.com/kmsd/kmsd/internal/store/schema"
)

// mark is a migration that leaves a record behind, so tests see it ran.
func mark(to int, name string) schema.Migration {
	return schema.Migration{To: to, Name: name, Apply: func(_ context.Context, tx store.Tx) error {
		return tx.Put([]byte("marks"), []byte(name), []byte("done"))
	}}
}

func marks(t *testing.T, st store.Store) []string {
	t.Helper()
	var names []string
	err := st.View(t.Context(), func(tx store.Tx) error {
		kvs, err := tx.Scan([]byte("marks"), nil, nil, 0)
		for _, kv := range kvs {
			names = append(names, string(kv.Key))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func version(t *testing.T, st store.Store) (int, string) {
	t.Helper()
	v, by, err := schema.Read(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	return v, by
}

var v3 = schema.Plan{Current: 3, Release: "0.3.0", Migrations: []schema.Migration{mark(2, "a-to-2"), mark(3, "b-to-3")}}

func TestNewStoreRecordsTheCurrentVersion(t *testing.T) {
	st := memory.New()
	if v, by := version(t, st); v != schema.Base || by != "" {
		t.Fatalf("a store without a record reads as %d by %q, want Base", v, by)
	}
	res, err := schema.Plan{Current: 1, Release: "0.1.0"}.Migrate(t.Context(), st)
	if err != nil || res.From != 1 || res.To != 1 || len(res.Applied) != 0 {
		t.Fatalf("Migrate = %+v, %v", res, err)
	}
	if v, by := version(t, st); v != 1 || by != "0.1.0" {
		t.Fatalf("recorded %d by %q", v, by)
	}
}

func TestMigrateForwardInOrderOnce(t *testing.T) {
	st := memory.New()
	res, err := v3.Migrate(t.Context(), st)
	if err != nil || res.From != 1 || res.To != 3 || strings.Join(res.Applied, ",") != "a-to-2,b-to-3" {
		t.Fatalf("Migrate = %+v, %v", res, err)
	}
	if v, by := version(t, st); v != 3 || by != "0.3.0" {
		t.Fatalf("recorded %d by %q", v, by)
	}
	res, err = v3.Migrate(t.Context(), st)
	if err != nil || res.From != 3 || len(res.Applied) != 0 {
		t.Fatalf("second Migrate = %+v, %v", res, err)
	}
}

// A migration that fails changes nothing and leaves the version at the
// last one reached; the next start resumes there.
func TestFailedMigrationResumes(t *testing.T) {
	st := memory.New()
	broken := v3
	broken.Migrations = []schema.Migration{mark(2, "a-to-2"), {To: 3, Name: "b-to-3", Apply: func(_ context.Context, tx store.Tx) error {
		if err := tx.Put([]byte("marks"), []byte("half"), []byte("x")); err != nil {
			return err
		}
		return errors.New("disk on fire")
	}}}
	_, err := broken.Migrate(t.Context(), st)
	if err == nil || !strings.Contains(err.Error(), "migrate the store from schema version 2 to 3 (b-to-3): disk on fire") {
		t.Fatalf("broken Migrate = %v", err)
	}
	if v, _ := version(t, st); v != 2 {
		t.Fatalf("after the failure the store is at %d, want 2", v)
	}
	if got := strings.Join(marks(t, st), ","); got != "a-to-2" {
		t.Fatalf("marks after the failure: %s", got)
	}
	res, err := v3.Migrate(t.Context(), st)
	if err != nil || res.From != 2 || strings.Join(res.Applied, ",") != "b-to-3" {
		t.Fatalf("resumed Migrate = %+v, %v", res, err)
	}
}

// An older kmsd refuses a store a newer one wrote, naming both versions
// and the release that wrote it, and changes nothing.
func TestNewerStoreIsRefused(t *testing.T) {
	st := memory.New()
	if _, err := v3.Migrate(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	old := schema.Plan{Current: 1, Release: "0.1.0"}
	for _, call := range []func() error{
		func() error { _, err := old.Migrate(t.Context(), st); return err },
		func() error { _, err := old.Check(t.Context(), st); return err },
	} {
		err := call()
		var tn *schema.TooNewError
		if !errors.As(err, &tn) || tn.Found != 3 || tn.Supported != 1 {
			t.Fatalf("old kmsd on a new store: %v", err)
		}
		want := "the store has schema version 3 (written by kmsd 0.3.0), but this kmsd 0.1.0 reads schema versions up to 1"
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if v, by := version(t, st); v != 3 || by != "0.3.0" {
		t.Fatalf("the refusal changed the record: %d by %q", v, by)
	}
}

func TestBadPlansAndRecordsAreRefused(t *testing.T) {
	st := memory.New()
	for _, p := range []schema.Plan{
		{Current: 2},
		{Current: 2, Migrations: []schema.Migration{mark(3, "skips")}},
		{Current: 2, Migrations: []schema.Migration{{To: 2, Name: "no func"}}},
	} {
		if _, err := p.Migrate(t.Context(), st); err == nil || !strings.HasPrefix(err.Error(), "schema plan: ") {
			t.Errorf("plan %+v: %v", p, err)
		}
	}
	if marks(t, st) != nil {
		t.Error("a bad plan changed the store")
	}
	err := st.Update(t.Context(), func(tx store.Tx) error {
		return tx.Put([]byte("store-schema"), []byte("version"), []byte("{not json"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v3.Migrate(t.Context(), st); err == nil || !strings.Contains(err.Error(), "schema version record is unreadable") {
		t.Errorf("unreadable record: %v", err)
	}
}
