package kms

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/uuid"
)

func storedUses() []*lastUse {
	at := time.Date(2026, 12, 4, 21, 0, 0, 120000000, time.UTC)
	return []*lastUse{
		newLastUse(at, "Encrypt", uuid.New(), uuid.New()),
		newLastUse(at.Add(time.Nanosecond), "GenerateDataKey", "req-<1>&\"\u2028\xff", ""),
		newLastUse(at.Truncate(time.Second), "Sign", "01234567-89AB-cdef-0123-456789abcdef", "ev"),
		newLastUse(time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), "VerifyMac", string(make([]byte, 300)), uuid.New()),
	}
}

// TestStoredUseRoundTrips: a use reads back from its stored form as it
// was recorded, and kmsd's own (UUID ids) takes under a third of the JSON
// record it replaces.
func TestStoredUseRoundTrips(t *testing.T) {
	for _, u := range storedUses() {
		b := u.appendStored(nil)
		got, err := decodeStoredUse(b)
		if err != nil || got != u.record() {
			t.Errorf("%x read back as %+v (%v), want %+v", b, got, err, u.record())
		}
		if at, ok := storedUseAt(b); !ok || at != u.at {
			t.Errorf("%x: time %v %v, want %v", b, at, ok, u.at)
		}
	}
	u := storedUses()[0]
	old, err := json.Marshal(u.record())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(u.appendStored(nil)); n > 52 || 3*n > len(old) {
		t.Errorf("the stored form takes %d bytes, the JSON record %d", n, len(old))
	}
}

// TestStoredUseReadsTheJSONForm: records written by earlier versions, as
// encoding/json wrote them, still read, in any member order.
func TestStoredUseReadsTheJSONForm(t *testing.T) {
	for _, u := range storedUses() {
		b, err := json.Marshal(u.record())
		if err != nil {
			t.Fatal(err)
		}
		var want lastUseRecord // as earlier versions read it: invalid UTF-8 did not survive the write
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if got, err := decodeStoredUse(b); err != nil || got != want || !got.At.Equal(u.time()) {
			t.Errorf("%s read as %+v (%v)", b, got, err)
		}
	}
	at := time.Date(2026, 12, 4, 21, 0, 0, 5, time.UTC)
	for _, b := range []string{`{"at":"2026-12-04T21:00:00.000000005Z","operation":"Sign","requestId":"r"}`,
		`{"requestId":"r","at":"2026-12-04T21:00:00.000000005Z"}`, `{"at":"2026-12-04T21:00:00.000000005Z"` + "\t}"} {
		if got, ok := storedUseAt([]byte(b)); !ok || got != at.UnixNano() {
			t.Errorf("%s: %v %v", b, got, ok)
		}
	}
}

// TestStoredUseRefusesMalformed: a record cut short, with a byte too many
// or with an unknown id kind does not read, so the flush writes over it
// and GetKeyLastUsage reports the damage instead of a made-up use.
func TestStoredUseRefusesMalformed(t *testing.T) {
	good := storedUses()[0].appendStored(nil)
	bad := []string{"", `{"at":"yesterday"}`, `{"at":`, `{"at":"2026-12-04T21:00:00Z","operation":`,
		string(append(append([]byte(nil), good...), 0)), "\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00"}
	for n := range good {
		bad = append(bad, string(good[:n]))
	}
	kind := append([]byte(nil), good...)
	kind[9+1+len("Encrypt")] = 7
	bad = append(bad, string(kind))
	for _, b := range bad {
		if got, ok := storedUseAt([]byte(b)); ok {
			t.Errorf("%q: time read as %v", b, got)
		}
		if _, err := decodeStoredUse([]byte(b)); err == nil {
			t.Errorf("%q decoded", b)
		}
	}
}

// FuzzDecodeStoredUse: no stored bytes crash the reader, and whatever
// reads as a use kmsd could have recorded is stored again as the same use.
func FuzzDecodeStoredUse(f *testing.F) {
	for _, u := range storedUses() {
		f.Add(u.appendStored(nil))
		b, _ := json.Marshal(u.record())
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := decodeStoredUse(b)
		if err != nil || u.Operation == "" || !time.Unix(0, u.At.UnixNano()).Equal(u.At) {
			return // not a use kmsd records
		}
		again, err := decodeStoredUse(newLastUse(u.At, u.Operation, u.RequestID, u.EventID).appendStored(nil))
		if err != nil || !again.At.Equal(u.At) || again.Operation != u.Operation || again.RequestID != u.RequestID || again.EventID != u.EventID {
			t.Fatalf("%q: %+v stored again reads %+v (%v)", b, u, again, err)
		}
	})
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
	var before []lastUseRecord
	for _, id := range ids {
		before = append(before, *h.storedUse(id))
	}
	stored := func(id string) []byte {
		var b []byte
		if err := h.st.View(ctx, func(tx store.Tx) error {
			var err error
			b, err = tx.Get(bucketLastUsage, keyKey("111122223333", east, id))
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
			if err := tx.Put(bucketLastUsage, keyKey("111122223333", east, id), b); err != nil {
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
	for i, id := range ids {
		b := stored(id)
		if _, compact := parseCompact(b); compact != (i == 1) {
			t.Errorf("key %d is stored as %q", i, b)
		}
	}
	wantUse(t, h.lastUsage(call(), ids[1]), "Encrypt", "req-again", h.clock.Now())
	wantUse(t, h.lastUsage(call(), ids[2]), "Encrypt", before[2].RequestID, before[2].At)
}

// newLastUse is a use as the tracker gives it to a flush.
func newLastUse(at time.Time, op, requestID, eventID string) *lastUse {
	u := &lastUse{at: at.UnixNano(), operation: op}
	r, e := newCompactID(requestID), newCompactID(eventID)
	if r.isUUID && e.isUUID {
		u.uuids = [2][16]byte{r.uuid, e.uuid}
	} else {
		u.texts = &[2]string{requestID, eventID}
	}
	return u
}
