package kms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kms/keyuse"
	"github.com/kmsd/kmsd/internal/store"
)

// storedUse reads the last use the store holds for key id of the
// harness's account in us-east-1; nil when it holds none.
func (h *harness) storedUse(id string) *keyuse.Use {
	h.t.Helper()
	var u *keyuse.Use
	if err := h.st.View(context.Background(), func(tx store.Tx) error {
		b, err := tx.Get(keyuse.BucketLastUsage, keyKey("111122223333", east, id))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		stored, err := keyuse.Decode(b)
		u = &stored
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return u
}

// A flush writes each recorded use unless a later one is stored (another
// node's) or the key is gone from the store (deleted by another node).
func TestFlushKeepsALaterStoredUseAndDropsGoneKeys(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const account = "111122223333"
	kept, gone, fresh := h.createKey(), h.createKey(), h.createKey()
	h.encryptAs(kept, "req-kept")
	h.encryptAs(gone, "req-gone")
	h.encryptAs(fresh, "req-fresh")
	later := keyuse.Use{At: h.clock.Now().Add(time.Hour), Operation: "Decrypt", RequestID: "req-other-node", EventID: "ev-other-node"}
	if err := h.st.Update(ctx, func(tx store.Tx) error {
		b, err := json.Marshal(later)
		if err != nil {
			return err
		}
		if err := tx.Put(keyuse.BucketLastUsage, keyKey(account, east, kept), b); err != nil {
			return err
		}
		return tx.Delete(bucketKeys, keyKey(account, east, gone))
	}); err != nil {
		t.Fatal(err)
	}
	// Before the flush, the use in memory is older than the stored one,
	// and GetKeyLastUsage reports the later.
	if u := h.lastUsage(call(), kept).KeyLastUsage; u == nil || u.KmsRequestId != later.RequestID {
		t.Errorf("last usage %+v before the flush, want the later stored use", u)
	}
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if u := h.storedUse(kept); u == nil || u.RequestID != later.RequestID || !u.At.Equal(later.At) {
		t.Errorf("the later stored use was replaced: %+v", u)
	}
	if u := h.storedUse(gone); u != nil {
		t.Errorf("a use of a key gone from the store was written: %+v", u)
	}
	if u := h.storedUse(fresh); u == nil || u.RequestID != "req-fresh" || u.EventID != "ev-req-fresh" || u.Operation != "Encrypt" {
		t.Errorf("the use of a key with none stored: %+v", u)
	}
}

// A flush reads a stored use in whatever form it was written, and drops
// the use of a key deleted after an earlier flush wrote one: deleting a
// key deletes its last use with it, as the deletion job does.
func TestFlushReadsAnyStoredFormAndDropsKeysDeletedAfterAFlush(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const account = "111122223333"
	reordered, deleted := h.createKey(), h.createKey()
	h.encryptAs(deleted, "req-1")
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	h.encryptAs(reordered, "req-2")
	h.encryptAs(deleted, "req-3")
	later := h.clock.Now().Add(time.Hour).Format(time.RFC3339Nano)
	if err := h.st.Update(ctx, func(tx store.Tx) error {
		rec := []byte(`{"operation":"Decrypt","requestId":"req-other-node","at":"` + later + `"}`)
		if err := tx.Put(keyuse.BucketLastUsage, keyKey(account, east, reordered), rec); err != nil {
			return err
		}
		if err := tx.Delete(keyuse.BucketLastUsage, keyKey(account, east, deleted)); err != nil {
			return err
		}
		return tx.Delete(bucketKeys, keyKey(account, east, deleted))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if u := h.storedUse(reordered); u == nil || u.RequestID != "req-other-node" {
		t.Errorf("the later stored use, its time last, was replaced: %+v", u)
	}
	if u := h.storedUse(deleted); u != nil {
		t.Errorf("a use of a deleted key was written: %+v", u)
	}
}

// TestJSONKeyUsesReadUntilTheirNextFlush: uses stored as JSON before
// schema version 4 read as they were, and each becomes compact when its
// key's next use is flushed; the others stay as they are.
func TestJSONKeyUsesReadUntilTheirNextFlush(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ids := []string{h.createKey(), h.createKey(), h.createKey()}
	for i, id := range ids {
		h.encryptAs(id, "req-"+string(rune('a'+i)))
	}
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	var before []keyuse.Use
	for _, id := range ids {
		before = append(before, *h.storedUse(id))
	}
	stored := func(id string) []byte {
		var b []byte
		if err := h.st.View(ctx, func(tx store.Tx) error {
			var err error
			b, err = tx.Get(keyuse.BucketLastUsage, keyKey("111122223333", east, id))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return b
	}
	if err := h.st.Update(ctx, func(tx store.Tx) error {
		for i, id := range ids {
			b, err := json.Marshal(before[i])
			if err != nil {
				return err
			}
			if err := tx.Put(keyuse.BucketLastUsage, keyKey("111122223333", east, id), b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := CompactKeyUses(ctx, nil); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	for i, id := range ids {
		wantUse(t, h.lastUsage(call(), id), "Encrypt", before[i].RequestID, before[i].At)
	}
	h.clock.Add(time.Minute)
	h.encryptAs(ids[1], "req-again")
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	// The key used again is stored compactly, the others as they were.
	for i, id := range ids {
		want, err := json.Marshal(before[i])
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			want = keyuse.Use{At: h.clock.Now(), Operation: "Encrypt", RequestID: "req-again", EventID: "ev-req-again"}.AppendStored(nil)
		}
		if b := stored(id); !bytes.Equal(b, want) {
			t.Errorf("key %d is stored as %q, want %q", i, b, want)
		}
	}
	wantUse(t, h.lastUsage(call(), ids[1]), "Encrypt", "req-again", h.clock.Now())
	wantUse(t, h.lastUsage(call(), ids[2]), "Encrypt", before[2].RequestID, before[2].At)
}
