package kms

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/outbox"
	"github.com/kmsd/kmsd/internal/store"
)

// RotateDueKeys rotates every key whose next automatic rotation date has
// come and returns how many it rotated. See RotationJob.
func (s *Service) RotateDueKeys(ctx context.Context) (int, error) {
	return s.rotateDueKeys(ctx, nil)
}

// RotationJob returns the scheduler's rotation task: RotateDueKeys, with a
// CloudTrail RotateKey service event in sink for every rotation.
//
// Each rotation is one transaction that adds the material, makes it
// current, moves the next date one period on and moves the key's entry in
// the date index; a crash before the commit leaves the key as it was, after
// it leaves the key rotated and no longer due. So every due date rotates a
// key exactly once, however often the task runs or the process restarts.
// Disabled keys and keys pending deletion keep their due entry and rotate
// at the first run after they are enabled again, as AWS does.
func (s *Service) RotationJob(sink EventSink) func(context.Context) (int, error) {
	return func(ctx context.Context) (int, error) { return s.rotateDueKeys(ctx, sink) }
}

func (s *Service) rotateDueKeys(ctx context.Context, sink EventSink) (int, error) {
	now := s.now()
	var auditErrs []error
	n, err := s.forEachDue(ctx, bucketRotations, now, "rotate key", func(indexKey []byte) (bool, error) {
		rotated := false
		err := auditedJobStep(ctx, sink, func(ctx context.Context) (*audit.Event, error) {
			r, err := s.rotateDueKey(ctx, indexKey, now)
			if err != nil || r == nil {
				return nil, err
			}
			rotated = true
			return rotateKeyEvent(r, now), nil
		})
		if errors.Is(err, errJobAudit) {
			auditErrs = append(auditErrs, err)
			err = nil
		}
		return rotated, err
	})
	return n, errors.Join(append([]error{err}, auditErrs...)...)
}

// rotateDueKey carries out the rotation an index entry calls for, if it is
// still called for, and returns the rotated record (nil: nothing rotated).
// Entries whose key is gone, no longer rotates, or was rescheduled are
// removed; entries of disabled keys stay.
func (s *Service) rotateDueKey(ctx context.Context, indexKey []byte, now time.Time) (*keyRecord, error) {
	due := int64(binary.BigEndian.Uint64(indexKey[:8]))
	recKey := indexKey[8:]
	scheduled := func(r *keyRecord) bool {
		return r != nil && r.RotationEnabled && r.NextRotation != nil && r.NextRotation.UnixNano() == due && checkRotatable(r, false) == nil
	}
	// Look first, so that keys that will not rotate cost no new material.
	var peek *keyRecord
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		peek, err = loadKeyAt(tx, recKey)
		return err
	})
	if err != nil {
		return nil, err
	}
	if scheduled(peek) && peek.KeyState != stateEnabled {
		return nil, nil
	}
	var m *materialRecord
	var sc sealedCopies
	if scheduled(peek) {
		mr, copies, err := s.rotationMaterial(peek)
		if err != nil {
			return nil, err
		}
		m, sc = &mr, copies
	}
	var rotated *keyRecord
	var invalid []string
	err = s.store.Update(ctx, func(tx store.Tx) error {
		rotated = nil
		r, err := loadKeyAt(tx, recKey)
		switch {
		case err != nil:
			return err
		case !scheduled(r):
			return tx.Delete(bucketRotations, indexKey)
		case r.KeyState != stateEnabled || m == nil:
			return nil // changed since the look; the next run decides
		}
		rotateTo(r, *m, kmsapi.RotationTypeAutomatic, now)
		next := time.Unix(0, due).UTC().Add(days(r.RotationPeriodDays))
		if !next.After(now) {
			// Overdue by more than a period (the key was disabled, or kmsd
			// was down): rotate once, and count the next period from now.
			next = now.Add(days(r.RotationPeriodDays))
		}
		if err := setSchedule(tx, r, r.RotationPeriodDays, &next); err != nil {
			return err
		}
		if err := putKey(tx, r); err != nil {
			return err
		}
		if err := s.syncReplicas(tx, r, sc); err != nil {
			return err
		}
		invalid = r.groupCacheKeys()
		rotated = r
		outbox.Stage(ctx, rotateKeyEvent(r, now))
		return nil
	})
	if peek != nil {
		s.cache.invalidate(append(invalid, cacheKeyID(peek.AccountID, peek.Region, peek.KeyID))...)
	}
	if err != nil {
		return nil, err
	}
	return rotated, nil
}

// loadKeyAt reads the key record stored under its full store key, or nil.
func loadKeyAt(tx store.Tx, k []byte) (*keyRecord, error) {
	b, err := tx.Get(bucketKeys, k)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r, err := decodeKeyRecord(b)
	if err != nil {
		return nil, fmt.Errorf("decode key record %s: %w", k, err)
	}
	return r, nil
}

// rotateKeyEvent is the CloudTrail record AWS writes when it rotates a key
// automatically. CloudTrail carries rotationType and keyId in
// serviceEventDetails, a member audit.Event does not have; they go in
// additionalEventData instead, with the new KeyMaterialId.
func rotateKeyEvent(r *keyRecord, at time.Time) *audit.Event {
	ev := serviceEvent("RotateKey", r, at)
	ev.AdditionalEventData = map[string]any{
		"rotationType":  string(kmsapi.RotationTypeAutomatic),
		"keyId":         r.KeyID,
		"keyMaterialId": r.CurrentMaterial,
	}
	return ev
}
