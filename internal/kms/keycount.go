package kms

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/kmsd/kmsd/internal/store"
)

// keyCountPage is how many key records KeysByState reads per scan.
const keyCountPage = 1000

// KeysByState counts the keys of every account and Region by key state.
// It reads every key record once, in one snapshot, so its cost grows with
// the number of keys: it is for a metrics scrape, never a request.
func (s *Service) KeysByState(ctx context.Context) (map[string]int, error) {
	counts := map[string]int{}
	err := s.store.View(ctx, func(tx store.Tx) error {
		clear(counts)
		var after []byte
		for {
			kvs, err := tx.Scan(bucketKeys, nil, after, keyCountPage)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				var r struct {
					KeyState string `json:"keyState"`
				}
				if err := json.Unmarshal(kv.Value, &r); err != nil {
					return fmt.Errorf("decode key record %s: %w", kv.Key, err)
				}
				counts[r.KeyState]++
			}
			if len(kvs) < keyCountPage {
				return ctx.Err()
			}
			after = kvs[len(kvs)-1].Key
		}
	})
	if err != nil {
		return nil, fmt.Errorf("count keys by state: %w", err)
	}
	return counts, nil
}
