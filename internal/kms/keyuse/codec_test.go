package keyuse

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

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
		got, err := Decode(b)
		if err != nil || got != u.asUse() {
			t.Errorf("%x read back as %+v (%v), want %+v", b, got, err, u.asUse())
		}
		if at, ok := storedUseAt(b); !ok || at != u.at {
			t.Errorf("%x: time %v %v, want %v", b, at, ok, u.at)
		}
	}
	u := storedUses()[0]
	old, err := json.Marshal(u.asUse())
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
		b, err := json.Marshal(u.asUse())
		if err != nil {
			t.Fatal(err)
		}
		var want Use // as earlier versions read it: invalid UTF-8 did not survive the write
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if got, err := Decode(b); err != nil || got != want || !got.At.Equal(u.time()) {
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
		if _, err := Decode([]byte(b)); err == nil {
			t.Errorf("%q decoded", b)
		}
	}
}

// FuzzDecodeStoredUse: no stored bytes crash the reader, and whatever
// reads as a use kmsd could have recorded is stored again as the same use.
func FuzzDecodeStoredUse(f *testing.F) {
	for _, u := range storedUses() {
		f.Add(u.appendStored(nil))
		b, _ := json.Marshal(u.asUse())
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := Decode(b)
		if err != nil || u.Operation == "" || !time.Unix(0, u.At.UnixNano()).Equal(u.At) {
			return // not a use kmsd records
		}
		again, err := Decode(newLastUse(u.At, u.Operation, u.RequestID, u.EventID).appendStored(nil))
		if err != nil || !again.At.Equal(u.At) || again.Operation != u.Operation || again.RequestID != u.RequestID || again.EventID != u.EventID {
			t.Fatalf("%q: %+v stored again reads %+v (%v)", b, u, again, err)
		}
	})
}

// TestUseAppendsTheFlushedForm: a Use is stored in the very bytes a flush
// writes for the use it reports.
func TestUseAppendsTheFlushedForm(t *testing.T) {
	for _, u := range storedUses() {
		if got, want := u.asUse().AppendStored(nil), u.appendStored(nil); !bytes.Equal(got, want) {
			t.Errorf("%+v is stored as %x, want %x", u.asUse(), got, want)
		}
	}
}
