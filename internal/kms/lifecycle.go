package kms

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

// EnableKey sets a key's state to Enabled.
func (s *Service) EnableKey(ctx context.Context, c *Call, in *kmsapi.EnableKeyInput) (*kmsapi.EnableKeyOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.mutateKey(ctx, c, in.KeyId, "kms:EnableKey", ruleEnableDisable, func(_ store.Tx, r *keyRecord) error {
		r.KeyState = stateEnabled
		return nil
	}); err != nil {
		return nil, err
	}
	return &kmsapi.EnableKeyOutput{}, nil
}

// DisableKey sets a key's state to Disabled; cryptographic use then fails.
func (s *Service) DisableKey(ctx context.Context, c *Call, in *kmsapi.DisableKeyInput) (*kmsapi.DisableKeyOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.mutateKey(ctx, c, in.KeyId, "kms:DisableKey", ruleEnableDisable, func(_ store.Tx, r *keyRecord) error {
		r.KeyState = stateDisabled
		return nil
	}); err != nil {
		return nil, err
	}
	return &kmsapi.DisableKeyOutput{}, nil
}

// ScheduleKeyDeletion puts a key in PendingDeletion for 7 to 30 days.
func (s *Service) ScheduleKeyDeletion(ctx context.Context, c *Call, in *kmsapi.ScheduleKeyDeletionInput) (*kmsapi.ScheduleKeyDeletionOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	days := int32(30)
	if in.PendingWindowInDays != nil {
		days = *in.PendingWindowInDays
	}
	if days < 7 {
		return nil, kmserr.New(kmserr.Validation, "1 validation error detected: Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 7", days)
	}
	if days > 30 {
		return nil, kmserr.New(kmserr.Validation, "1 validation error detected: Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value less than or equal to 30", days)
	}
	due := s.now().Add(time.Duration(days) * 24 * time.Hour)
	// ruleManage refuses a key already pending deletion, as AWS does.
	rec, err := s.mutateKey(ctx, c, in.KeyId, "kms:ScheduleKeyDeletion", ruleManage, func(tx store.Tx, r *keyRecord) error {
		r.KeyState = statePendingDeletion
		r.DeletionDate = &due
		r.PendingWindowDays = days
		return tx.Put(bucketDeletions, deletionKey(due, r.partition(), r.KeyID), nil)
	})
	if err != nil {
		return nil, err
	}
	return &kmsapi.ScheduleKeyDeletionOutput{
		KeyId:               rec.arn(),
		DeletionDate:        kmsapi.Time(due),
		KeyState:            kmsapi.KeyState(rec.KeyState),
		PendingWindowInDays: kmsapi.Int32(days),
	}, nil
}

// CancelKeyDeletion takes a key out of PendingDeletion; it comes back Disabled, as in AWS.
func (s *Service) CancelKeyDeletion(ctx context.Context, c *Call, in *kmsapi.CancelKeyDeletionInput) (*kmsapi.CancelKeyDeletionOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	rec, err := s.mutateKey(ctx, c, in.KeyId, "kms:CancelKeyDeletion", ruleAny, func(tx store.Tx, r *keyRecord) error {
		if r.KeyState != statePendingDeletion || r.DeletionDate == nil {
			return kmserr.New(kmserr.InvalidState, "%s is not pending deletion.", r.arn())
		}
		index := deletionKey(*r.DeletionDate, r.partition(), r.KeyID)
		r.KeyState = stateDisabled
		if missingMaterial(r) {
			// Its imported material was deleted or expired (import.go).
			r.KeyState = statePendingImport
		}
		r.DeletionDate = nil
		r.PendingWindowDays = 0
		return tx.Delete(bucketDeletions, index)
	})
	if err != nil {
		return nil, err
	}
	return &kmsapi.CancelKeyDeletionOutput{KeyId: rec.arn()}, nil
}

// DeleteDueKeys deletes every key whose deletion date has passed, with its
// aliases and grants, and returns how many it deleted. The scheduler calls it; it is
// idempotent, so a restart half-way through simply finishes the job.
func (s *Service) DeleteDueKeys(ctx context.Context) (int, error) {
	now := s.now()
	deleted := 0
	for {
		var due []store.KV
		err := s.store.View(ctx, func(tx store.Tx) error {
			var err error
			due, err = tx.Scan(bucketDeletions, nil, nil, 100)
			return err
		})
		if err != nil {
			return deleted, err
		}
		n := 0
		for _, kv := range due {
			if len(kv.Key) < 8 || int64(binary.BigEndian.Uint64(kv.Key[:8])) > now.UnixNano() {
				break
			}
			if err := s.deleteKeyNow(ctx, kv.Key, now); err != nil {
				return deleted, err
			}
			n++
		}
		deleted += n
		if n < len(due) || len(due) == 0 {
			return deleted, nil
		}
	}
}

func (s *Service) deleteKeyNow(ctx context.Context, indexKey []byte, now time.Time) error {
	var invalid []string
	err := s.store.Update(ctx, func(tx store.Tx) error {
		invalid = invalid[:0]
		if err := tx.Delete(bucketDeletions, indexKey); err != nil {
			return err
		}
		b, err := tx.Get(bucketKeys, indexKey[8:])
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var r keyRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("decode key record: %w", err)
		}
		if r.KeyState != statePendingDeletion || r.DeletionDate == nil || r.DeletionDate.After(now) {
			return nil // cancelled, or rescheduled later
		}
		aliases, err := tx.Scan(bucketAliases, []byte(r.partition()), nil, 0)
		if err != nil {
			return err
		}
		for _, kv := range aliases {
			var a aliasRecord
			if json.Unmarshal(kv.Value, &a) == nil && a.TargetKeyID == r.KeyID {
				if err := tx.Delete(bucketAliases, kv.Key); err != nil {
					return err
				}
				invalid = append(invalid, cacheAlias(r.AccountID, r.Region, a.Name))
			}
		}
		ck := []byte(r.partition() + "keys")
		n, err := counter(tx, ck)
		if err != nil {
			return err
		}
		if n > 0 {
			if err := putCounter(tx, ck, n-1); err != nil {
				return err
			}
		}
		if err := deleteKeyGrants(tx, r.partition(), r.KeyID); err != nil {
			return err
		}
		invalid = append(invalid, cacheKeyID(r.AccountID, r.Region, r.KeyID))
		return tx.Delete(bucketKeys, indexKey[8:])
	})
	s.cache.invalidate(invalid...)
	return err
}
