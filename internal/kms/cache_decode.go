package kms

import (
	"fmt"
	"unique"

	// The module mirrors encoding/json/v2; its decoder is several times
	// faster than encoding/json's on key records (BenchmarkDecodeKeyRecord).
	json "github.com/go-json-experiment/json"

	"github.com/kmsd/kmsd/internal/store"
)

// loadKeyFast is loadKey for the cache's miss path: the same record,
// decoded with the faster decoder. Records are written by encoding/json,
// which emits member names exactly and valid UTF-8, so both decoders read
// them alike (TestDecodeKeyRecordMatchesEncodingJSON). The record is
// decoded where the store keeps it (store.Lend): the decoder copies what
// it keeps, so the record's bytes are not copied first.
func loadKeyFast(tx store.Tx, account, region, keyID string) (*keyRecord, error) {
	b, err := store.Lend(tx, bucketKeys, keyKey(account, region, keyID))
	if err != nil {
		return nil, err
	}
	r, err := decodeKeyRecord(b)
	if err != nil {
		// Formatted now: the error must not hold on to the lent bytes.
		return nil, fmt.Errorf("decode key record %s: %v", keyID, err)
	}
	internRecord(r)
	return r, nil
}

// internRecord replaces the record's strings that most keys share (its
// account, Region, spec, usage, origin, manager, state) by one canonical
// copy, so a cached record holds fewer objects of its own: with a million
// keys, the collector's work is the number of objects the cache holds.
func internRecord(r *keyRecord) {
	for _, s := range []*string{&r.AccountID, &r.Region, &r.KeyUsage, &r.KeySpec, &r.Origin, &r.KeyManager, &r.KeyState} {
		*s = unique.Make(*s).Value()
	}
	for i := range r.Materials {
		m := &r.Materials[i]
		m.Origin = unique.Make(m.Origin).Value()
		if m.ID == r.CurrentMaterial {
			r.CurrentMaterial = m.ID // one copy of the 64-character id
		}
	}
}

func decodeKeyRecord(b []byte) (*keyRecord, error) {
	var r keyRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
