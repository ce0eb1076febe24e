package kms

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/outbox"
	"github.com/kmsd/kmsd/internal/store"
)

// ExpireImportedMaterial deletes every imported material whose ValidTo has
// passed, as AWS does, and returns how many it deleted. See
// ImportExpiryJob.
func (s *Service) ExpireImportedMaterial(ctx context.Context) (int, error) {
	return s.expireImported(ctx, nil)
}

// ImportExpiryJob returns the scheduler's task for imported material:
// ExpireImportedMaterial, with a CloudTrail DeleteExpiredKeyMaterial
// service event in sink for each material it deletes.
//
// Each expiry is one transaction that removes the index entry, deletes the
// material's bytes and moves the key to PendingImport; a crash before the
// commit leaves everything as it was, after it nothing is due any more. So
// each ValidTo deletes its material once, however often the task runs or
// the process restarts. Entries whose key is gone, or whose material was
// deleted or imported again with another expiration since, are dropped.
func (s *Service) ImportExpiryJob(sink EventSink) func(context.Context) (int, error) {
	return func(ctx context.Context) (int, error) { return s.expireImported(ctx, sink) }
}

func (s *Service) expireImported(ctx context.Context, sink EventSink) (int, error) {
	now := s.now()
	var auditErrs []error
	n, err := s.forEachDue(ctx, bucketImportExpiry, now, "expire imported material", func(indexKey []byte) (bool, error) {
		expired := false
		err := auditedJobStep(ctx, sink, func(ctx context.Context) (*audit.Event, error) {
			r, mid, err := s.expireOne(ctx, indexKey, now)
			if err != nil || r == nil {
				return nil, err
			}
			expired = true
			return expiredMaterialEvent(r, mid, now), nil
		})
		if errors.Is(err, errJobAudit) {
			auditErrs = append(auditErrs, err)
			err = nil
		}
		return expired, err
	})
	return n, errors.Join(append([]error{err}, auditErrs...)...)
}

// expireOne carries out the expiry an index entry calls for, if it still
// does, and returns the key and the material it deleted (nil: none).
func (s *Service) expireOne(ctx context.Context, indexKey []byte, now time.Time) (*keyRecord, string, error) {
	// importExpiryKey: due (8) | partition | key id | "|" | 64 hex digits.
	const midLen = 64
	if len(indexKey) < 8+1+midLen || indexKey[len(indexKey)-midLen-1] != '|' {
		err := s.store.Update(ctx, func(tx store.Tx) error { return tx.Delete(bucketImportExpiry, indexKey) })
		return nil, "", err
	}
	due := int64(binary.BigEndian.Uint64(indexKey[:8]))
	recKey := indexKey[8 : len(indexKey)-midLen-1]
	mid := string(indexKey[len(indexKey)-midLen:])
	var expired *keyRecord
	err := s.store.Update(ctx, func(tx store.Tx) error {
		expired = nil
		if err := tx.Delete(bucketImportExpiry, indexKey); err != nil {
			return err
		}
		r, err := loadKeyAt(tx, recKey)
		if err != nil || r == nil {
			return err
		}
		i := slices.IndexFunc(r.Imports, func(m importRecord) bool { return m.ID == mid })
		if i < 0 || !r.Imports[i].Imported || r.Imports[i].ValidTo == nil || r.Imports[i].ValidTo.UnixNano() != due {
			return nil // deleted, or imported again with another expiration
		}
		if err := dropMaterial(tx, r, i); err != nil {
			return err
		}
		if err := putKey(tx, r); err != nil {
			return err
		}
		expired = r
		outbox.Stage(ctx, expiredMaterialEvent(r, mid, now))
		return nil
	})
	if expired != nil {
		s.cache.invalidate(cacheKeyID(expired.AccountID, expired.Region, expired.KeyID))
	}
	if err != nil {
		return nil, "", err
	}
	return expired, mid, nil
}

// expiredMaterialEvent is the CloudTrail record AWS writes when it deletes
// expired imported key material.
func expiredMaterialEvent(r *keyRecord, materialID string, at time.Time) *audit.Event {
	ev := serviceEvent("DeleteExpiredKeyMaterial", r, at)
	ev.AdditionalEventData = map[string]any{"keyId": r.KeyID, "keyMaterialId": materialID}
	return ev
}
