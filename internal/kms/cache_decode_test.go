package kms

import (
	stdjson "encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// fullKeyRecord has every field of keyRecord set, so a field either decoder
// reads differently shows.
func fullKeyRecord() *keyRecord {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 678900000, time.UTC)
	t1 := t0.Add(7 * 24 * time.Hour)
	return &keyRecord{
		Schema: recordSchema, KeyID: "mrk-0123456789abcdef0123456789abcdef", AccountID: "111122223333", Region: "us-east-1",
		Description: "d\u00e9j\u00e0 \"vu\" <tag> \u2028", KeyUsage: "ENCRYPT_DECRYPT", KeySpec: "SYMMETRIC_DEFAULT", Origin: "AWS_KMS",
		KeyManager: "CUSTOMER", AWSManagedAlias: "alias/aws/s3", KeyState: "PendingDeletion", Created: t0,
		DeletionDate: &t1, PendingWindowDays: 7,
		Policy:           `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`,
		PolicyPrincipals: []boundPrincipal{{ARN: "arn:aws:iam::111122223333:user/a", ID: "AIDAEXAMPLE"}},
		Tags:             []tagRecord{{Key: "k", Value: "v"}, {Key: "empty", Value: ""}},
		MultiRegion:      true,
		Materials:        []materialRecord{{ID: "a1", Created: t0, Origin: "AWS_KMS", Sealed: []byte{0, 1, 2, 255}}},
		CurrentMaterial:  "a1", RotationEnabled: true, RotationPeriodDays: 365, NextRotation: &t1,
		Rotations:     []rotationRecord{{}},
		PrimaryRegion: "us-east-1", ReplicaRegions: []string{"eu-west-1"},
		Imports:          []importRecord{{}},
		CustomKeyStoreID: "cks-1234567890abcdef0", XksKeyID: "ext-1",
	}
}

// TestDecodeKeyRecordMatchesEncodingJSON: the miss path's decoder reads
// what encoding/json wrote exactly as encoding/json reads it back.
func TestDecodeKeyRecordMatchesEncodingJSON(t *testing.T) {
	for _, rec := range []*keyRecord{fullKeyRecord(), {Schema: recordSchema, KeyID: "k"}} {
		b, err := stdjson.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		var want keyRecord
		if err := stdjson.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		got, err := decodeKeyRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("decoders differ:\n got %+v\nwant %+v", *got, want)
		}
	}
	if _, err := decodeKeyRecord([]byte(`{"keyId":`)); err == nil {
		t.Fatal("a truncated record decoded")
	}
}

func BenchmarkDecodeKeyRecord(b *testing.B) {
	rec := fullKeyRecord()
	rec.Rotations, rec.Imports = nil, nil
	raw, err := stdjson.Marshal(rec)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r keyRecord
			if err := stdjson.Unmarshal(raw, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeKeyRecord", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeKeyRecord(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeSeededKeyRecord decodes the record kmsd dev --seed makes
// for a generated key: the default policy and one material.
func BenchmarkDecodeSeededKeyRecord(b *testing.B) {
	rec := seededKeyRecord()
	raw, err := stdjson.Marshal(rec)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("json/v2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r keyRecord
			if err := jsonv2.Unmarshal(raw, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	compact, err := encodeKeyRecord(rec)
	if err != nil {
		b.Fatal(err)
	}
	for name, raw := range map[string][]byte{"decodeKeyRecord": raw, "compact": compact} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeKeyRecord(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// seededKeyRecord is the record kmsd dev --seed makes for a generated
// key: the default policy and one material, as most keys are.
func seededKeyRecord() *keyRecord {
	t0 := time.Date(2026, 12, 4, 20, 20, 20, 819578906, time.UTC)
	rec := &keyRecord{
		Schema: recordSchema, KeyID: "27738fe0-41cb-4231-b691-1d6631b156af", AccountID: "111122223333", Region: "us-east-1",
		KeyUsage: "ENCRYPT_DECRYPT", KeySpec: "SYMMETRIC_DEFAULT", Origin: "AWS_KMS", KeyManager: "CUSTOMER", KeyState: "Enabled",
		Created: t0, Policy: DefaultPolicy("111122223333"),
		Materials: []materialRecord{{ID: strings.Repeat("8d94cc04", 8), Created: t0, Origin: "AWS_KMS", Sealed: make([]byte, 60)}},
	}
	rec.CurrentMaterial = rec.Materials[0].ID
	return rec
}
