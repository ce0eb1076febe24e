package kms

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/store"
)

// storedUse reads the last use the store holds for key id of the
// harness's account in us-east-1; nil when it holds none.
func (h *harness) storedUse(id string) *lastUseRecord {
	h.t.Helper()
	var u *lastUseRecord
	if err := h.st.View(context.Background(), func(tx store.Tx) error {
		b, err := tx.Get(bucketLastUsage, keyKey("111122223333", east, id))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		stored, err := decodeStoredUse(b)
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
	later := lastUseRecord{At: h.clock.Now().Add(time.Hour), Operation: "Decrypt", RequestID: "req-other-node", EventID: "ev-other-node"}
	if err := h.st.Update(ctx, func(tx store.Tx) error {
		b, err := json.Marshal(later)
		if err != nil {
			return err
		}
		if err := tx.Put(bucketLastUsage, keyKey(account, east, kept), b); err != nil {
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
		if err := tx.Put(bucketLastUsage, keyKey(account, east, reordered), rec); err != nil {
			return err
		}
		if err := tx.Delete(bucketLastUsage, keyKey(account, east, deleted)); err != nil {
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
