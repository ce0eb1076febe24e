package kms

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/store"
)

// fullRecord is fullKeyRecord with the rarer forms too: a material id of
// hex digits beside one of other text, a current material that is none
// of the key's, a time before 1970, and rotations and imports filled in.
func fullRecord() *keyRecord {
	r := fullKeyRecord()
	r.Materials = append(r.Materials, materialRecord{ID: strings.Repeat("0123456789abcdef", 4), Created: r.Created.Add(time.Hour), Origin: "EXTERNAL", Sealed: []byte{4}})
	r.CurrentMaterial = "gone"
	validTo := r.Created.Add(time.Hour)
	r.Imports = []importRecord{{ID: "a1", Description: "d", Imported: true, ExpirationModel: "KEY_MATERIAL_EXPIRES", ValidTo: &validTo}}
	before1970 := time.Date(1969, 7, 20, 20, 17, 40, 5, time.UTC) // negative seconds
	r.NextRotation = &before1970
	r.Rotations = []rotationRecord{{MaterialID: "a1", Date: time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC), Type: "ON_DEMAND"}}
	return r
}

// TestFullRecordSetsEveryField keeps fullRecord whole: a field added to
// keyRecord must be added there, and the round trip then checks that the
// compact form keeps it.
func TestFullRecordSetsEveryField(t *testing.T) {
	v := reflect.ValueOf(*fullRecord())
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("fullRecord leaves %s unset", v.Type().Field(i).Name)
		}
	}
}

func TestCompactRecordRoundTrip(t *testing.T) {
	for name, r := range map[string]*keyRecord{"full": fullRecord(), "seeded": seededKeyRecord(), "bare": {Schema: recordSchema, KeyID: "k"}} {
		b, err := encodeKeyRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeKeyRecord(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s: decoded\n%+v\nwant\n%+v", name, got, r)
		}
		// The JSON form of the same record, as stores before schema
		// version 5 hold it, reads the same.
		j, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := decodeKeyRecord(j)
		if err != nil || !reflect.DeepEqual(fromJSON, got) {
			t.Errorf("%s: the JSON form reads %+v (%v)", name, fromJSON, err)
		}
		if state, err := recordState(nil, b); err != nil || state != r.KeyState {
			t.Errorf("%s: recordState = %q, %v", name, state, err)
		}
	}
}

// TestDefaultRecordIsSmall: the record of a key like most others is under
// 30% of its JSON form, with the default policy two bytes.
func TestDefaultRecordIsSmall(t *testing.T) {
	r := seededKeyRecord()
	b, err := encodeKeyRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(r)
	if len(b) > 260 || 10*len(b) > 3*len(j) {
		t.Errorf("compact record is %d bytes, JSON %d", len(b), len(j))
	}
	if bytes.Contains(b, []byte("Enable IAM User Permissions")) {
		t.Error("the default policy is stored in full")
	}
	// Another policy is kept as given, even one that differs from the
	// default only by the account.
	r.Policy = DefaultPolicy("444455556666")
	b, _ = encodeKeyRecord(r)
	if got, err := decodeKeyRecord(b); err != nil || got.Policy != r.Policy {
		t.Errorf("policy naming another account reads %q (%v)", got.Policy, err)
	}
}

// TestCompactRecordCopiesWhatItKeeps: the store lends a record's bytes for
// one transaction, so nothing decoded may point into them.
func TestCompactRecordCopiesWhatItKeeps(t *testing.T) {
	b, _ := encodeKeyRecord(fullRecord())
	got, err := decodeKeyRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b[1:] {
		b[1+i] ^= 0xFF
	}
	if !reflect.DeepEqual(got, fullRecord()) {
		t.Errorf("the decoded record changed with the bytes it was read from: %+v", got)
	}
}

func TestMalformedCompactRecords(t *testing.T) {
	good, _ := encodeKeyRecord(seededKeyRecord())
	bad := map[string][]byte{
		"unknown field":              append(bytes.Clone(good), 200, 0),
		"length past the end":        append(bytes.Clone(good), fDescription, 5, 'a'),
		"short uuid":                 {compactRecord, fKeyUUID, 2, 1, 2},
		"bad time":                   {compactRecord, fCreated, 1, 0x80},
		"nanoseconds >= 1s":          append([]byte{compactRecord, fCreated, 6, 2}, 0x80, 0x94, 0xeb, 0xdc, 0x03),
		"current past the materials": {compactRecord, fCurrentIndex, 1, 0},
		"number out of range":        append([]byte{compactRecord, fPendingWindow, 6}, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01),
		"bad nested material":        {compactRecord, fMaterial, 2, 9, 0},
	}
	for name, b := range bad {
		if r, err := decodeKeyRecord(b); err == nil {
			t.Errorf("%s: decoded %+v", name, r)
		}
	}
	// Cut anywhere inside a field, a record is refused.
	for n := 2; n < len(good); n++ {
		rd := fieldReader{b: good[1:n]}
		for _, _, ok := rd.next(); ok; _, _, ok = rd.next() {
		}
		if _, err := decodeKeyRecord(good[:n]); (err == nil) != (rd.err == nil) {
			t.Errorf("cut at %d: %v", n, err)
		}
	}
}

func FuzzDecodeCompactRecord(f *testing.F) {
	for _, r := range []*keyRecord{fullRecord(), seededKeyRecord()} {
		b, _ := encodeKeyRecord(r)
		f.Add(b)
	}
	f.Add([]byte{compactRecord})
	// What a record decodes to stores as the same bytes again: the
	// encoder loses nothing the decoder read.
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeCompactRecord(b)
		if err != nil {
			return
		}
		stored, err := encodeKeyRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := decodeKeyRecord(stored)
		if err != nil {
			t.Fatalf("%x stores again as %x, which does not read: %v", b, stored, err)
		}
		if again, err := encodeKeyRecord(r2); err != nil || !bytes.Equal(again, stored) {
			t.Fatalf("%x stores as %x, then as %x (%v)", b, stored, again, err)
		}
	})
}

// TestJSONKeyRecordsReadUntilTheyChange: key records stored as JSON before
// schema version 5 serve every call as before, and each is stored
// compactly at its key's next change; the others stay as they are.
func TestJSONKeyRecordsReadUntilTheyChange(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ids := []string{h.createKey(), h.createKey()}
	var blobs [][]byte
	for _, id := range ids {
		raw, _ := h.rawState(id)
		if !IsCompactKeyRecord(raw) {
			t.Fatalf("a new key is stored as %q", raw)
		}
		enc, err := h.svc.Encrypt(ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("before")})
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, enc.CiphertextBlob)
	}
	if err := h.st.Update(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			r, err := loadKey(tx, "111122223333", east, id)
			if err != nil {
				return err
			}
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := tx.Put(bucketKeys, keyKey("111122223333", east, id), b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := CompactKeyRecords(ctx, nil); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	for i, id := range ids {
		if raw, _ := h.rawState(id); raw[0] != '{' {
			t.Fatalf("key %d is not stored as JSON: %q", i, raw)
		}
		dec, err := h.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: blobs[i]})
		if err != nil || string(dec.Plaintext) != "before" {
			t.Fatalf("key %d: decrypt of a JSON record: %v", i, err)
		}
		if md := h.describe(id); md.Description != "test" || md.KeyState != "Enabled" {
			t.Fatalf("key %d describes as %+v", i, md)
		}
	}
	if _, err := h.svc.UpdateKeyDescription(ctx, call(), &kmsapi.UpdateKeyDescriptionInput{KeyId: ids[1], Description: "changed"}); err != nil {
		t.Fatal(err)
	}
	if raw, _ := h.rawState(ids[0]); raw[0] != '{' {
		t.Errorf("an unchanged key was rewritten: %q", raw)
	}
	raw, _ := h.rawState(ids[1])
	if !IsCompactKeyRecord(raw) {
		t.Errorf("a changed key is still stored as %q", raw)
	}
	h.reopen()
	if md := h.describe(ids[1]); md.Description != "changed" {
		t.Errorf("changed key describes as %+v", md)
	}
	dec, err := h.svc.Decrypt(ctx, call(), &kmsapi.DecryptInput{CiphertextBlob: blobs[1]})
	if err != nil || string(dec.Plaintext) != "before" {
		t.Fatalf("decrypt after the key was stored compactly: %v", err)
	}
}

// TestCompactRecordLayoutIsFixed pins the stored bytes of a seeded key:
// records already on disk keep their meaning only while every tag and
// encoding stays as it was.
func TestCompactRecordLayoutIsFixed(t *testing.T) {
	want := "c1" + "021027738fe041cb4231b6911d6631b156af" + // key id as a UUID
		"030c313131313232323233333333" + "040975732d656173742d31" + // account, Region
		"060f454e43525950545f44454352595054" + "071153594d4d45545249435f44454641554c54" + // usage, spec
		"08074157535f4b4d53" + "0908435553544f4d4552" + "0b07456e61626c6564" + // origin, manager, state
		"0c0a888299b10d9a90e78603" + "1100" + // created, the default policy
		"14750220" + "8d94cc048d94cc048d94cc048d94cc048d94cc048d94cc048d94cc048d94cc04" + // a material: its id,
		"030a888299b10d9a90e78603" + "04074157535f4b4d53" + "053c" + strings.Repeat("00", 60) + // created, origin, sealed
		"150100" // the current material is the first
	b, err := encodeKeyRecord(seededKeyRecord())
	if err != nil || hex.EncodeToString(b) != want {
		t.Fatalf("a seeded key stores as %x (%v), want %s", b, err, want)
	}
}
