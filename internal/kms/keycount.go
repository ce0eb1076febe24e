package kms

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	json "github.com/go-json-experiment/json"

	"github.com/kmsd/kmsd/internal/store"
)

// bucketKeyStates counts keys by state: partition | state → 8 bytes BE.
// putKey and the deletion of a key keep it in the transaction that
// changes the key, so a metrics scrape reads a handful of records instead
// of every key (a million keys took seconds of CPU per scrape and paged
// the whole store into memory).
var bucketKeyStates = []byte("key-states")

// keyCountPage is how many key records CountKeysByState reads per scan.
const keyCountPage = 1000

// KeysByState counts the keys of every account and Region by key state.
func (s *Service) KeysByState(ctx context.Context) (map[string]int, error) {
	counts := map[string]int{}
	err := s.store.View(ctx, func(tx store.Tx) error {
		kvs, err := tx.Scan(bucketKeyStates, nil, nil, 0)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			state, n, err := decodeStateCount(kv)
			if err != nil {
				return err
			}
			counts[state] += int(n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count keys by state: %w", err)
	}
	for st, n := range counts {
		if n == 0 {
			delete(counts, st)
		}
	}
	return counts, nil
}

func decodeStateCount(kv store.KV) (string, int64, error) {
	i := strings.LastIndexByte(string(kv.Key), '/')
	if i < 0 || len(kv.Value) != 8 {
		return "", 0, fmt.Errorf("bad key state count %q", kv.Key)
	}
	return string(kv.Key[i+1:]), int64(binary.BigEndian.Uint64(kv.Value)), nil
}

// countState adds delta to the keys of partition part in state.
func countState(tx store.Tx, part, state string, delta int64) error {
	k := []byte(part + state)
	var n int64
	switch b, err := tx.Get(bucketKeyStates, k); {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	case len(b) != 8:
		return fmt.Errorf("bad key state count %q", k)
	default:
		n = int64(binary.BigEndian.Uint64(b))
	}
	n = max(n+delta, 0)
	if n == 0 {
		return tx.Delete(bucketKeyStates, k)
	}
	return tx.Put(bucketKeyStates, k, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// storedState returns the state of the key record stored at k, or "" when
// there is none.
func storedState(tx store.Tx, k []byte) (string, error) {
	b, err := tx.Get(bucketKeys, k)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return recordState(k, b)
}

// recordState reads only the state of the key record b stored at k.
func recordState(k, b []byte) (string, error) {
	if IsCompactKeyRecord(b) {
		state, err := compactRecordState(b)
		if err != nil {
			return "", fmt.Errorf("decode key record %s: %w", k, err)
		}
		return state, nil
	}
	var r struct {
		KeyState string `json:"keyState"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return "", fmt.Errorf("decode key record %s: %w", k, err)
	}
	return r.KeyState, nil
}

// CountKeysByState is the store migration that counts the keys a store
// already holds by state, in pages so that a store of a million keys is
// never held in memory at once.
func CountKeysByState(ctx context.Context, tx store.Tx) error {
	counts := map[string]int64{}
	var after []byte
	for {
		kvs, err := tx.Scan(bucketKeys, nil, after, keyCountPage)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			part, ok := partitionOf(string(kv.Key))
			if !ok {
				return fmt.Errorf("key record %q names no account and Region", kv.Key)
			}
			state, err := recordState(kv.Key, kv.Value)
			if err != nil {
				return err
			}
			counts[part+state]++
		}
		if len(kvs) < keyCountPage {
			break
		}
		after = kvs[len(kvs)-1].Key
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	for k, n := range counts {
		if err := tx.Put(bucketKeyStates, []byte(k), binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
			return err
		}
	}
	return nil
}
