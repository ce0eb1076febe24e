package kms

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/store"
)

// A flush writes each recorded use unless a later one is stored (another
// node's) or the key is gone from the store (deleted by another node).
func TestFlushKeepsALaterStoredUseAndDropsGoneKeys(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const account = "111122223333"
	kept, gone, fresh := h.createKey(), h.createKey(), h.createKey()
	for _, u := range []struct{ id, req string }{{kept, "req-kept"}, {gone, "req-gone"}, {fresh, "req-fresh"}} {
		c := call()
		c.RequestID, c.EventID = u.req, "ev-"+u.req
		if _, err := trackedEncrypt(h.svc, ctx, c, &kmsapi.EncryptInput{KeyId: u.id, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
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
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	stored := func(id string) *lastUseRecord {
		t.Helper()
		var u *lastUseRecord
		if err := h.st.View(ctx, func(tx store.Tx) error {
			b, err := tx.Get(bucketLastUsage, keyKey(account, east, id))
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			u = new(lastUseRecord)
			return json.Unmarshal(b, u)
		}); err != nil {
			t.Fatal(err)
		}
		return u
	}
	if u := stored(kept); u == nil || u.RequestID != later.RequestID || !u.At.Equal(later.At) {
		t.Errorf("the later stored use was replaced: %+v", u)
	}
	if u := stored(gone); u != nil {
		t.Errorf("a use of a key gone from the store was written: %+v", u)
	}
	if u := stored(fresh); u == nil || u.RequestID != "req-fresh" || u.EventID != "ev-req-fresh" || u.Operation != "Encrypt" {
		t.Errorf("the use of a key with none stored: %+v", u)
	}
}
