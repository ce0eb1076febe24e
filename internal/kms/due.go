package kms

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/kmsd/kmsd/internal/store"
)

// dueScanBatch is how many index entries one read of a due index takes.
const dueScanBatch = 100

// dueTime is the time a due-index entry is due: its first 8 bytes, Unix
// nanoseconds big-endian, so the index sorts by it.
func dueTime(indexKey []byte) (int64, bool) {
	if len(indexKey) < 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(indexKey[:8])), true
}

// forEachDue calls handle, in due order, for every entry of a date-indexed
// bucket (deletions, rotations, import expiry) that is due at now. handle
// does its work in its own transaction and reports whether it did
// anything. One failing entry does not hold up the others: its error is
// collected, labelled with what and the entry's key, and the walk goes on;
// the walk stops at once only when ctx ends. It returns how many entries
// handle acted on.
func (s *Service) forEachDue(ctx context.Context, bucket []byte, now time.Time, what string, handle func(indexKey []byte) (bool, error)) (int, error) {
	done := 0
	var errs []error
	var after []byte
	for {
		var due []store.KV
		err := s.store.View(ctx, func(tx store.Tx) error {
			var err error
			due, err = tx.Scan(bucket, nil, after, dueScanBatch)
			return err
		})
		if err != nil {
			return done, errors.Join(append(errs, err)...)
		}
		for _, kv := range due {
			if at, ok := dueTime(kv.Key); !ok || at > now.UnixNano() {
				return done, errors.Join(errs...)
			}
			after = kv.Key
			acted, err := handle(kv.Key)
			if err != nil {
				if ctx.Err() != nil {
					return done, ctx.Err()
				}
				errs = append(errs, fmt.Errorf("%s %s: %w", what, kv.Key[8:], err))
				continue
			}
			if acted {
				done++
			}
		}
		if len(due) < dueScanBatch {
			return done, errors.Join(errs...)
		}
	}
}
