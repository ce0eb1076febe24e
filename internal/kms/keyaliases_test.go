package kms

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/store"
)

// aliasesOf reads the key-aliases index of id.
func (h *harness) aliasesOf(id string) []string {
	h.t.Helper()
	var names []string
	err := h.st.View(context.Background(), func(tx store.Tx) error {
		var err error
		names, err = keyAliasNames(tx, "111122223333", "us-east-1", id)
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return names
}

func (h *harness) wantAliases(id string, want ...string) {
	h.t.Helper()
	if got := h.aliasesOf(id); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		h.t.Fatalf("aliases of %s: %q, want %q", id, got, want)
	}
}

// TestKeyAliasIndexFollowsEveryAliasChange: CreateAlias, UpdateAlias,
// DeleteAlias and a completed key deletion keep the index of a key's
// aliases exact.
func TestKeyAliasIndexFollowsEveryAliasChange(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a, b := h.createKey(), h.createKey()
	for name, target := range map[string]string{"alias/a1": a, "alias/a2": a, "alias/b1": b} {
		if _, err := h.svc.CreateAlias(ctx, call(), &kmsapi.CreateAliasInput{AliasName: name, TargetKeyId: target}); err != nil {
			t.Fatal(err)
		}
	}
	h.wantAliases(a, "alias/a1", "alias/a2")
	h.wantAliases(b, "alias/b1")
	if _, err := h.svc.UpdateAlias(ctx, call(), &kmsapi.UpdateAliasInput{AliasName: "alias/a2", TargetKeyId: b}); err != nil {
		t.Fatal(err)
	}
	h.wantAliases(a, "alias/a1")
	h.wantAliases(b, "alias/a2", "alias/b1")
	if _, err := h.svc.DeleteAlias(ctx, call(), &kmsapi.DeleteAliasInput{AliasName: "alias/a1"}); err != nil {
		t.Fatal(err)
	}
	h.wantAliases(a)
	if _, err := h.svc.ScheduleKeyDeletion(ctx, call(), &kmsapi.ScheduleKeyDeletionInput{KeyId: b, PendingWindowInDays: kmsapi.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(7 * 24 * time.Hour)
	if n, err := h.svc.DeleteDueKeys(ctx); err != nil || n != 1 {
		t.Fatalf("DeleteDueKeys = %d, %v", n, err)
	}
	h.wantAliases(b)
	out, err := h.svc.ListAliases(ctx, call(), &kmsapi.ListAliasesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, al := range out.Aliases {
		if al.TargetKeyId != "" {
			t.Errorf("alias %s of a deleted or unaliased key is left: %+v", al.AliasName, al)
		}
	}
}

// TestKeyLoadReadsOnlyItsOwnAliases: loading a key reads its own aliases
// through the index, so an alias of another key that cannot be decoded
// no longer fails it (before, every miss decoded every alias of the
// account and Region).
func TestKeyLoadReadsOnlyItsOwnAliases(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a, b := h.createKey(), h.createKey()
	if _, err := h.svc.CreateAlias(ctx, call(), &kmsapi.CreateAliasInput{AliasName: "alias/mine", TargetKeyId: a}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CreateAlias(ctx, call(), &kmsapi.CreateAliasInput{AliasName: "alias/other", TargetKeyId: b}); err != nil {
		t.Fatal(err)
	}
	err := h.st.Update(ctx, func(tx store.Tx) error {
		return tx.Put(bucketAliases, aliasKey("111122223333", "us-east-1", "alias/other"), []byte("not json"))
	})
	if err != nil {
		t.Fatal(err)
	}
	h.reopen() // a cold cache: the next call loads the key
	out, err := h.svc.DescribeKey(ctx, call(), &kmsapi.DescribeKeyInput{KeyId: a})
	if err != nil || out.KeyMetadata.KeyId != a {
		t.Fatalf("DescribeKey: %v", err)
	}
	k, err := h.svc.keySealed(ctx, "111122223333", "us-east-1", a)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.conds["kms:resourcealiases"]; !slices.Equal(got, []string{"alias/mine"}) {
		t.Fatalf("kms:ResourceAliases = %q", got)
	}
}

// TestIndexAliasesByKeyMigration: a store written before the index gets
// every alias's entry from the migration.
func TestIndexAliasesByKeyMigration(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := h.createKey()
	if _, err := h.svc.CreateAlias(ctx, call(), &kmsapi.CreateAliasInput{AliasName: "alias/x/y", TargetKeyId: a}); err != nil {
		t.Fatal(err)
	}
	err := h.st.Update(ctx, func(tx store.Tx) error { // as an older kmsd left it
		return tx.Delete(bucketKeyAliases, keyAliasKey("111122223333", "us-east-1", a, "alias/x/y"))
	})
	if err != nil {
		t.Fatal(err)
	}
	h.wantAliases(a)
	if err := h.st.Update(ctx, func(tx store.Tx) error { return IndexAliasesByKey(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
	h.wantAliases(a, "alias/x/y")
}
