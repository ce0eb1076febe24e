package kms

import (
	stdjson "encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// decodesLikeEncodingJSON fails t unless decodeKeyRecord reads b exactly as
// encoding/json does.
func decodesLikeEncodingJSON(t *testing.T, b []byte) *keyRecord {
	t.Helper()
	var want keyRecord
	if err := stdjson.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	got, err := decodeKeyRecord(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("decoders differ on %s:\n got %+v\nwant %+v", b, *got, want)
	}
	return got
}

// TestDecodeKeyRecordMembersAsEncodingJSON: escaped member names and
// values, members keyRecord does not have, and nulls read as encoding/json
// reads them.
func TestDecodeKeyRecordMembersAsEncodingJSON(t *testing.T) {
	for _, b := range []string{
		`{"keyId":"k","acc\u006funtId":"111122223333","region":"eu-\u0077est-1","keyState":"Enabled"}`,
		`{"keyId":"k","unknown":{"a":[1,"x",{"b":null}]},"policy":"{\"Version\":\"2012-10-17\"}","later":true}`,
		`{"keyId":null,"policy":null,"created":null,"materials":null,"description":"\u00e9\n\ud83d\ude00"}`,
		`{"keyId":"k","created":"2026-01-02T03:04:05.5+02:00","materials":[{"id":"m","created":"2026-01-02T03:04:05Z","origin":"AWS_KMS","sealed":"AAEC"}],"currentMaterial":"m"}`,
	} {
		decodesLikeEncodingJSON(t, []byte(b))
	}
	for _, bad := range []string{`{"keyId":`, `[]`, `{"policy":1}`, `{"created":"yesterday"}`, `{"keyId":"k"} {}`} {
		if _, err := decodeKeyRecord([]byte(bad)); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}

// TestDecodeKeyRecordSharesText: two records with the same policy and
// account hold one copy of each, and never share their own members.
func TestDecodeKeyRecordSharesText(t *testing.T) {
	rec := fullKeyRecord()
	rec.Policy = DefaultPolicy("444455556666")
	var got [2]*keyRecord
	for i := range got {
		rec.KeyID, rec.Description = "key-"+string(rune('a'+i)), "the same description"
		b, err := stdjson.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		got[i] = decodesLikeEncodingJSON(t, b)
	}
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	if !same(got[0].Policy, got[1].Policy) || !same(got[0].AccountID, got[1].AccountID) || !same(got[0].KeyState, got[1].KeyState) {
		t.Error("the policy, account or state is decoded into a copy of each record's own")
	}
	if same(got[0].Description, got[1].Description) {
		t.Error("descriptions share one copy: only the members most keys share are kept")
	}
	if got[0].CurrentMaterial != got[0].Materials[0].ID || !same(got[0].CurrentMaterial, got[0].Materials[0].ID) {
		t.Error("the current material id is not the material's own copy")
	}
}

// The table keeps what it is given up to its bound; past it, a short
// string (an account, a state) is still shared, and a long one is not.
func TestTextTableKeepsUpToItsBound(t *testing.T) {
	tt := &textTable{m: make(map[string]string)}
	big := strings.Repeat("x", sharedTextMax/5) // each entry holds it twice: two fit
	for i := range 5 {
		text := big[:len(big)-i]
		raw := []byte(`"` + text + `"`)
		got := tt.add(raw, text)
		_, kept := tt.lookup(raw)
		if got != text || kept != (i < 2) {
			t.Fatalf("add %d: kept %v", i, kept)
		}
	}
	if tt.size > sharedTextMax || !tt.full.Load() {
		t.Fatalf("holds %d bytes of at most %d; full %v", tt.size, sharedTextMax, tt.full.Load())
	}
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	short := []string{strings.Clone("999988887777"), strings.Clone("999988887777")}
	if a, b := tt.add([]byte(`"999988887777"`), short[0]), tt.add([]byte(`"999988887777"`), short[1]); !same(a, b) {
		t.Error("past the bound, one account in two records is two copies")
	}
	long := strings.Repeat("p", shortText+1)
	if got := tt.add([]byte(`"`+long+`"`), long); !same(got, long) {
		t.Error("past the bound, a long string was copied")
	}
}

// FuzzDecodeKeyRecord: whatever strings a record holds, the miss path's
// decoder reads what encoding/json wrote as encoding/json reads it.
func FuzzDecodeKeyRecord(f *testing.F) {
	f.Add("111122223333", DefaultPolicy("111122223333"), "d\u00e9j\u00e0 <vu> & \"\\", "ENCRYPT_DECRYPT", int32(7), true)
	f.Add("", "", "", "", int32(0), false)
	f.Add("\xff\x00", "\u2028", "\xed\xa0\x80", "a\tb", int32(-1), false)
	f.Fuzz(func(t *testing.T, account, doc, desc, usage string, days int32, multi bool) {
		rec := fullKeyRecord()
		rec.AccountID, rec.Policy, rec.Description, rec.KeyUsage = account, doc, desc, usage
		rec.PendingWindowDays, rec.MultiRegion = days, multi
		rec.Tags = []tagRecord{{Key: desc, Value: account}}
		rec.Materials[0].Origin, rec.Materials[0].ID, rec.CurrentMaterial = usage, desc, desc
		rec.Created = time.Unix(int64(days)*86400, int64(days)).UTC()
		b, err := stdjson.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		decodesLikeEncodingJSON(t, b)
	})
}
