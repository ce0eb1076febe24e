package kms

import (
	"context"
	"sync"

	"github.com/kmsd/kmsd/internal/store"
)

// What compact key records share in memory, what the root key's tools read
// of them, and the store migration that allows them (record_codec.go).

// sharedBytes returns the string v holds from sharedCompact, as
// readSharedString does for a JSON string from sharedText.
func sharedBytes(v []byte) string {
	if s, ok := sharedCompact.lookup(v); ok {
		return s
	}
	return sharedCompact.add(v, string(v))
}

// sharedCompact holds the strings of compact records most keys share,
// keyed by their bytes, within the same bounds as sharedText.
var sharedCompact = &textTable{m: make(map[string]string)}

// sharedDefaultPolicy returns one shared copy of defaultPolicy1(account).
// Accounts are few: the map holds one entry for each.
func sharedDefaultPolicy(account string) string {
	if s, ok := defaultPolicies.Load(account); ok {
		return s.(string)
	}
	s, _ := defaultPolicies.LoadOrStore(account, defaultPolicy1(account))
	return s.(string)
}

var defaultPolicies sync.Map // account → defaultPolicy1(account)

// SealedMaterial is one version of a key's material in a stored key
// record: sealed under the root keyring, with the AAD it was sealed with.
type SealedMaterial struct{ Blob, AAD []byte }

// IsCompactKeyRecord reports whether a stored key record is in the
// compact form rather than JSON.
func IsCompactKeyRecord(value []byte) bool { return len(value) > 0 && value[0] == compactRecord }

// StoredKeyMaterials returns the sealed materials of a stored key record,
// in either form, for the root key's tools (kmsd admin rotate-root).
func StoredKeyMaterials(value []byte) ([]SealedMaterial, error) {
	r, err := decodeKeyRecord(value)
	if err != nil {
		return nil, err
	}
	out := make([]SealedMaterial, 0, len(r.Materials))
	for _, m := range r.Materials {
		out = append(out, SealedMaterial{m.Sealed, materialAAD(r.partition(), r.KeyID, m.ID)})
	}
	return out, nil
}

// ResealCompactKey returns a compact stored key record with each sealed
// material replaced by what reseal returns for it (nil: kept as it is),
// or nil when reseal replaced none.
func ResealCompactKey(value []byte, reseal func(SealedMaterial) ([]byte, error)) ([]byte, error) {
	r, err := decodeCompactRecord(value)
	if err != nil {
		return nil, err
	}
	changed := false
	for i := range r.Materials {
		m := &r.Materials[i]
		nb, err := reseal(SealedMaterial{m.Sealed, materialAAD(r.partition(), r.KeyID, m.ID)})
		if err != nil {
			return nil, err
		}
		if nb != nil {
			m.Sealed, changed = nb, true
		}
	}
	if !changed {
		return nil, nil
	}
	return encodeKeyRecord(r)
}

// CompactKeyRecords is the store migration to schema version 5, after
// which key records may be stored compactly; it marks the store so that
// an earlier kmsd, which reads only JSON records, refuses it. Like
// CompactKeyUses it rewrites nothing: a JSON record is read as before and
// written compactly at its key's next change.
func CompactKeyRecords(context.Context, store.Tx) error { return nil }
