package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/seal"
)

// A sealedField is one value sealed under the root keyring inside a store
// record, with the AAD its owner sealed it with (DESIGN.md §5).
type sealedField struct {
	blob []byte
	aad  []byte
}

// sealedFields finds the sealed values of a record, by bucket, with the
// AAD layouts of kms (key material, grant token keys), identity (access key
// secrets, session credentials), custom key store secrets and the audit
// digest signing key. A record it cannot parse holds none that it knows
// of; the census at retirement catches any sealed value it misses.
func sealedFields(bucket, key, value []byte) []sealedField {
	switch string(bucket) {
	case "keys":
		ms, err := kms.StoredKeyMaterials(value)
		if err != nil {
			return nil
		}
		out := make([]sealedField, 0, len(ms))
		for _, m := range ms {
			out = append(out, sealedField{m.Blob, m.AAD})
		}
		return out
	case "grants":
		var g struct {
			GrantID   string `json:"grantId"`
			KeyID     string `json:"keyId"`
			AccountID string `json:"accountId"`
			Region    string `json:"region"`
			TokenKey  []byte `json:"tokenKey"`
		}
		if json.Unmarshal(value, &g) != nil {
			return nil
		}
		return []sealedField{{g.TokenKey, []byte("kmsd/grant-token-key/v1|" + g.AccountID + "/" + g.Region + "/|" + g.KeyID + "|" + g.GrantID)}}
	case "access-keys":
		var k struct {
			AccessKeyID string `json:"accessKeyId"`
			Sealed      []byte `json:"sealedSecret"`
		}
		if json.Unmarshal(value, &k) != nil {
			return nil
		}
		return []sealedField{{k.Sealed, []byte("kmsd/access-key/v1|" + k.AccessKeyID)}}
	case "sessions":
		var s struct {
			AccessKeyID string `json:"accessKeyId"`
			Sealed      []byte `json:"sealed"`
		}
		if json.Unmarshal(value, &s) != nil {
			return nil
		}
		return []sealedField{{s.Sealed, []byte("kmsd/session/v1|" + s.AccessKeyID)}}
	case "customkeystores":
		var r struct {
			ID             string `json:"id"`
			AccountID      string `json:"accountId"`
			Region         string `json:"region"`
			SealedPassword []byte `json:"sealedPassword"`
			SealedSecret   []byte `json:"sealedSecret"`
		}
		if json.Unmarshal(value, &r) != nil {
			return nil
		}
		part := r.AccountID + "/" + r.Region + "/"
		return []sealedField{
			{r.SealedPassword, []byte("kmsd/keystore/v1|" + part + "|" + r.ID + "|password")},
			{r.SealedSecret, []byte("kmsd/keystore/v1|" + part + "|" + r.ID + "|secret")},
		}
	case string(bucketAudit):
		if bytes.Equal(key, auditSigningKey) {
			return []sealedField{{value, []byte(signingKeyAAD)}}
		}
	}
	return nil
}

// sealedUnder returns the root key id a sealed value names, if it looks
// like one (seal's format: version 0x01 | root key id | nonce | … | tag).
func sealedUnder(b []byte) (uint32, bool) {
	const minSealed = 1 + 4 + 12 + 16
	if len(b) < minSealed || b[0] != 0x01 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b[1:5]), true
}

// resealer returns the sealed.ResealFunc that moves every sealed value of a
// record to sl's active root key. A JSON record keeps every other byte: the
// value's base64 text is replaced in place; a compact key record is
// written again with its new materials.
func resealer(sl *seal.FileSeal) func(bucket, key, value []byte) ([]byte, error) {
	return func(bucket, key, value []byte) ([]byte, error) {
		active := sl.ActiveID()
		if string(bucket) == "keys" && kms.IsCompactKeyRecord(value) {
			return kms.ResealCompactKey(value, func(m kms.SealedMaterial) ([]byte, error) {
				return resealValue(sl, active, m.Blob, m.AAD)
			})
		}
		out, changed := value, false
		for _, f := range sealedFields(bucket, key, value) {
			nb, err := resealValue(sl, active, f.blob, f.aad)
			if err != nil {
				return nil, err
			}
			if nb == nil {
				continue
			}
			changed = true
			if bytes.Equal(out, f.blob) { // a raw sealed value (the audit signing key)
				out = nb
				continue
			}
			old := []byte(`"` + base64.StdEncoding.EncodeToString(f.blob) + `"`)
			if bytes.Count(out, old) != 1 {
				return nil, errors.New("cannot find the sealed value in the record to replace it")
			}
			out = bytes.Replace(out, old, []byte(`"`+base64.StdEncoding.EncodeToString(nb)+`"`), 1)
		}
		if !changed {
			return nil, nil
		}
		return out, nil
	}
}

// resealValue seals blob's plaintext again under the active root key, or
// returns nil when blob is not sealed or already is under that key.
func resealValue(sl *seal.FileSeal, active uint32, blob, aad []byte) ([]byte, error) {
	if id, ok := sealedUnder(blob); !ok || id == active {
		return nil, nil
	}
	pt, err := sl.Unseal(blob, aad)
	if err != nil {
		return nil, fmt.Errorf("a sealed value does not unseal with its root key: %w", err)
	}
	defer pt.Wipe()
	return sl.Seal(pt, aad)
}

// sealedUnderCensus returns a check that refuses a record still holding a
// value sealed under root key id: a known sealed field, a raw sealed value,
// or any base64 string of the JSON that decodes to one, so that a sealed
// field this table does not know yet also keeps the old key from retiring.
func sealedUnderCensus(id uint32) func(bucket, key, value []byte) error {
	return func(bucket, key, value []byte) error {
		refuse := fmt.Errorf("bucket %q, key %q still holds a value sealed under root key %d: run kmsd admin rotate-root again, and if it says this again, this kmsd cannot re-seal that value yet; keep the old root key", bucket, key, id)
		if string(bucket) == "keys" && kms.IsCompactKeyRecord(value) {
			// A compact record is no JSON for the walk below: its
			// materials are all it holds sealed, and one that does not
			// decode may hold anything.
			ms, err := kms.StoredKeyMaterials(value)
			if err != nil {
				return fmt.Errorf("bucket %q, key %q: %w; keep the old root key", bucket, key, err)
			}
			for _, m := range ms {
				if got, ok := sealedUnder(m.Blob); ok && got == id {
					return refuse
				}
			}
			return nil
		}
		for _, f := range sealedFields(bucket, key, value) {
			if got, ok := sealedUnder(f.blob); ok && got == id {
				return refuse
			}
		}
		if got, ok := sealedUnder(value); ok && got == id && !json.Valid(value) {
			return refuse
		}
		var doc any
		if json.Unmarshal(value, &doc) != nil {
			return nil
		}
		if anySealedUnder(doc, id) {
			return refuse
		}
		return nil
	}
}

// anySealedUnder walks a decoded JSON document for a base64 string that
// decodes to a value sealed under root key id.
func anySealedUnder(v any, id uint32) bool {
	switch x := v.(type) {
	case string:
		b, err := base64.StdEncoding.DecodeString(x)
		if err != nil {
			return false
		}
		got, ok := sealedUnder(b)
		return ok && got == id
	case []any:
		for _, e := range x {
			if anySealedUnder(e, id) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if anySealedUnder(e, id) {
				return true
			}
		}
	}
	return false
}
