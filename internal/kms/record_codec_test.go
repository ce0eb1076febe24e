package kms

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/store"
)

func at(sec int64) time.Time { return time.Unix(1767000000+sec, 123456789).UTC() }

func ptr[T any](v T) *T { return &v }

// fullRecord has every field of keyRecord set, in the rarer forms too: a
// key id that is no UUID, a material id that is no hex digest, a current
// material that is none of the key's.
func fullRecord() *keyRecord {
	return &keyRecord{
		Schema: recordSchema, KeyID: "mrk-0123456789abcdef0123456789abcdef", AccountID: "111122223333", Region: "eu-west-1",
		Description: "every field", KeyUsage: "ENCRYPT_DECRYPT", KeySpec: "SYMMETRIC_DEFAULT", Origin: "EXTERNAL",
		KeyManager: "AWS", AWSManagedAlias: "alias/aws/s3", KeyState: statePendingDeletion, Created: at(0),
		DeletionDate: ptr(at(86400 * 7)), PendingWindowDays: 7, MultiRegion: true,
		Policy:           `{"Version":"2012-10-17","Statement":[]}`,
		PolicyPrincipals: []boundPrincipal{{ARN: "arn:aws:iam::111122223333:role/r", ID: "AROAEXAMPLE"}},
		Tags:             []tagRecord{{"team", "a"}, {"empty", ""}},
		Materials: []materialRecord{
			{ID: "not-hex", Created: at(1), Origin: "EXTERNAL", Sealed: []byte{1, 2, 3}},
			{ID: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", Created: at(2), Origin: "AWS_KMS", Sealed: []byte{4}},
		},
		CurrentMaterial: "gone", RotationEnabled: true, RotationPeriodDays: 90, NextRotation: ptr(at(86400 * 90)),
		Rotations:     []rotationRecord{{MaterialID: "not-hex", Date: at(3), Type: "ON_DEMAND"}},
		PrimaryRegion: "us-east-1", ReplicaRegions: []string{"eu-west-1", "ap-south-1"},
		Imports:          []importRecord{{ID: "not-hex", Description: "d", Imported: true, ExpirationModel: "KEY_MATERIAL_EXPIRES", ValidTo: ptr(at(4))}},
		CustomKeyStoreID: "cks-1234567890abcdef0", XksKeyID: "xks-key",
	}
}

// defaultRecord is a key as most are: created without a policy.
func defaultRecord() *keyRecord {
	return &keyRecord{
		Schema: recordSchema, KeyID: "00e69df1-efd6-433e-98a4-38e5eb0d2281", AccountID: "111122223333", Region: "us-east-1",
		KeyUsage: "ENCRYPT_DECRYPT", KeySpec: "SYMMETRIC_DEFAULT", Origin: "AWS_KMS", KeyManager: "CUSTOMER", KeyState: "Enabled",
		Created: at(0), Policy: DefaultPolicy("111122223333"),
		Materials: []materialRecord{{ID: "388343f4c635e102a8ba7d993722dcccb9469a9045aa5f592a8d7aeed41ce29f", Created: at(0), Origin: "AWS_KMS",
			Sealed: bytes.Repeat([]byte{7}, 62)}},
		CurrentMaterial: "388343f4c635e102a8ba7d993722dcccb9469a9045aa5f592a8d7aeed41ce29f",
	}
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
	for name, r := range map[string]*keyRecord{"full": fullRecord(), "default": defaultRecord()} {
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
	r := defaultRecord()
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
	good, _ := encodeKeyRecord(defaultRecord())
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
	for _, r := range []*keyRecord{fullRecord(), defaultRecord()} {
		b, _ := encodeKeyRecord(r)
		f.Add(b)
	}
	f.Add([]byte{compactRecord})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeCompactRecord(b)
		if err != nil {
			return
		}
		again, err := encodeKeyRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := decodeKeyRecord(again)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("%x decodes to %+v, which stores again as %x and reads %+v (%v)", b, r, again, r2, err)
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
