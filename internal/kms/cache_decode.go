package kms

import (
	"fmt"

	"github.com/kmsd/kmsd/internal/store"
)

// loadKeyFast is loadKey for the cache's miss path: the same record,
// decoded by decodeKeyRecord (record_decode.go), which reads what
// encoding/json wrote as encoding/json does (FuzzDecodeKeyRecord). The record is
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
	return r, nil
}
