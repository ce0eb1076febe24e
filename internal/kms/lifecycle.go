package kms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/kms/keyuse"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/outbox"
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
	if _, err := s.mutateUnused(ctx, c, in.KeyId, "kms:DisableKey", ruleEnableDisable, map[string][]string{}, func(_ store.Tx, r *keyRecord) error {
		r.KeyState = stateDisabled
		return nil
	}); err != nil {
		return nil, err
	}
	return &kmsapi.DisableKeyOutput{}, nil
}

// ScheduleKeyDeletion puts a key in PendingDeletion for 7 to 30 days. A
// multi-Region primary key that still has replicas goes to
// PendingReplicaDeletion instead, with no deletion date: its waiting period
// starts when its last replica is deleted (detachDeleted), as in AWS.
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
	conds := requestConditions("kms:schedulekeydeletionpendingwindowindays", strconv.Itoa(int(days)))
	var out *kmsapi.ScheduleKeyDeletionOutput
	_, err := s.mutateUnused(ctx, c, in.KeyId, "kms:ScheduleKeyDeletion", ruleManage, conds, func(tx store.Tx, r *keyRecord) error {
		r.PendingWindowDays = days
		if r.isPrimary() && len(r.ReplicaRegions) > 0 {
			r.KeyState, r.DeletionDate = statePendingReplicaDeletion, nil
		} else {
			r.KeyState = statePendingDeletion
			r.DeletionDate = &due
			if err := tx.Put(bucketDeletions, deletionKey(due, r.partition(), r.KeyID), nil); err != nil {
				return err
			}
		}
		out = &kmsapi.ScheduleKeyDeletionOutput{
			KeyId:               r.arn(),
			KeyState:            kmsapi.KeyState(r.KeyState),
			PendingWindowInDays: kmsapi.Int32(days),
		}
		if r.DeletionDate != nil {
			out.DeletionDate = kmsapi.Time(*r.DeletionDate)
		}
		c.answer = out
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// mutateUnused is mutateKey for the operations AWS guards with
// kms:TrailingDaysWithoutKeyUsage (DisableKey, ScheduleKeyDeletion): it
// adds that key, computed for the resolved key, to the operation's own
// condition keys conds before authorizing.
func (s *Service) mutateUnused(ctx context.Context, c *Call, keyIDInput, action string, rule stateRule, conds map[string][]string, fn func(tx store.Tx, r *keyRecord) error) (*keyRecord, error) {
	ref, err := parseKeyRef(&c.Caller, keyIDInput, keyOnly)
	if err != nil {
		return nil, err
	}
	k, err := s.resolveFor(ctx, c, ref, action)
	if err != nil {
		return nil, err
	}
	c.touch(k.arn)
	days, err := s.trailingDaysWithoutUse(ctx, k.rec)
	if err != nil {
		return nil, storeErr(err, "key last usage")
	}
	conds["kms:trailingdayswithoutkeyusage"] = []string{strconv.Itoa(days)}
	c.conditions = conds
	if err := s.authorize(ctx, c, action, k, nil, nil, ""); err != nil {
		return nil, err
	}
	if err := refuseOnManaged(c, action, k); err != nil {
		return nil, err
	}
	return s.updateRecord(ctx, k.rec.AccountID, k.rec.Region, k.rec.KeyID, rule, fn)
}

// trailingDaysWithoutUse is kms:TrailingDaysWithoutKeyUsage: whole days
// since the key's last cryptographic use, or, when none is recorded, since
// the later of its creation and the start of usage tracking.
func (s *Service) trailingDaysWithoutUse(ctx context.Context, r *keyRecord) (int, error) {
	since, err := s.usage.TrackingStart(ctx)
	if err != nil {
		return 0, err
	}
	if r.Created.After(since) {
		since = r.Created
	}
	u, err := s.lastUseOf(ctx, r)
	if err != nil {
		return 0, err
	}
	if u != nil && u.At.After(since) {
		since = u.At
	}
	return int(max(s.now().Sub(since), 0) / (24 * time.Hour)), nil
}

// CancelKeyDeletion takes a key out of PendingDeletion; it comes back Disabled, as in AWS.
func (s *Service) CancelKeyDeletion(ctx context.Context, c *Call, in *kmsapi.CancelKeyDeletionInput) (*kmsapi.CancelKeyDeletionOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	out := &kmsapi.CancelKeyDeletionOutput{}
	_, err := s.mutateKey(ctx, c, in.KeyId, "kms:CancelKeyDeletion", ruleAny, func(tx store.Tx, r *keyRecord) error {
		out.KeyId = r.arn()
		c.answer = out
		if r.KeyState == statePendingReplicaDeletion {
			// No deletion date yet, so nothing in the deletions index.
			r.KeyState, r.PendingWindowDays = stateDisabled, 0
			return nil
		}
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
	return out, nil
}

// DeleteDueKeys deletes every key whose deletion date has passed, with its
// aliases and grants, and returns how many it deleted. The scheduler calls it; it is
// idempotent, so a restart half-way through simply finishes the job.
func (s *Service) DeleteDueKeys(ctx context.Context) (int, error) {
	return s.DeletionJob(nil)(ctx)
}

// DeletionJob returns the scheduler's task for scheduled deletion: it
// deletes the keys whose waiting period ended and records a DeleteKey event
// for each in sink, as AWS does (see auditedJobStep).
func (s *Service) DeletionJob(sink EventSink) func(context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		now := s.now()
		var auditErrs []error
		n, err := s.forEachDue(ctx, bucketDeletions, now, "delete key", func(indexKey []byte) (bool, error) {
			err := auditedJobStep(ctx, sink, func(ctx context.Context) (*audit.Event, error) {
				r, err := s.deleteKeyNow(ctx, indexKey, now)
				if r == nil || err != nil {
					return nil, err
				}
				return deleteKeyEvent(r, now), nil
			})
			if errors.Is(err, errJobAudit) {
				auditErrs = append(auditErrs, err)
				err = nil
			}
			return true, err
		})
		return n, errors.Join(append([]error{err}, auditErrs...)...)
	}
}

// deleteKeyEvent is the CloudTrail record AWS writes when it deletes a key
// at the end of its waiting period; since December 2022 it carries the
// key's ARN in responseElements.keyId.
func deleteKeyEvent(r *keyRecord, at time.Time) *audit.Event {
	ev := serviceEvent("DeleteKey", r, at)
	ev.ResponseElements = map[string]any{"keyId": r.arn()}
	return ev
}

// deleteKeyNow deletes the key an index entry names if its waiting period
// has ended, and returns the deleted record (nil: nothing deleted).
func (s *Service) deleteKeyNow(ctx context.Context, indexKey []byte, now time.Time) (*keyRecord, error) {
	var invalid []string
	var deleted *keyRecord
	err := s.store.Update(ctx, func(tx store.Tx) error {
		invalid = invalid[:0]
		deleted = nil
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
		r, err := decodeKeyRecord(b)
		if err != nil {
			return fmt.Errorf("decode key record: %w", err)
		}
		if r.KeyState != statePendingDeletion || r.DeletionDate == nil || r.DeletionDate.After(now) {
			return nil // cancelled, or rescheduled later
		}
		aliases, err := keyAliasNames(tx, r.AccountID, r.Region, r.KeyID)
		if err != nil {
			return err
		}
		for _, name := range aliases {
			if err := deleteAlias(tx, r.AccountID, r.Region, r.KeyID, name); err != nil {
				return err
			}
			invalid = append(invalid, cacheAlias(r.AccountID, r.Region, name))
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
		related, err := s.detachDeleted(tx, r)
		if err != nil {
			return err
		}
		invalid = append(invalid, related...)
		if err := keyuse.Deleted(tx, indexKey[8:], now); err != nil {
			return err
		}
		if err := deleteKeyGrants(tx, r.partition(), r.KeyID); err != nil {
			return err
		}
		invalid = append(invalid, cacheKeyID(r.AccountID, r.Region, r.KeyID))
		if err := tx.Delete(bucketKeys, indexKey[8:]); err != nil {
			return err
		}
		if err := countState(tx, r.partition(), r.KeyState, -1); err != nil {
			return err
		}
		deleted = r
		outbox.Stage(ctx, deleteKeyEvent(r, now))
		return nil
	})
	s.cache.invalidate(invalid...)
	if err != nil {
		return nil, err
	}
	s.usage.Forget(string(indexKey[8:]))
	s.keyDeleted(ctx, deleted)
	return deleted, nil
}

// detachDeleted removes a deleted key from its related keys, in the
// transaction that deletes it, and returns their cache keys. When the last
// replica of a primary in PendingReplicaDeletion goes, the primary's own
// waiting period starts: it becomes PendingDeletion, due PendingWindowDays
// from now, as AWS documents.
func (s *Service) detachDeleted(tx store.Tx, gone *keyRecord) ([]string, error) {
	if !gone.MultiRegion {
		return nil, nil
	}
	now := s.now()
	var invalid []string
	remaining := slices.DeleteFunc(slices.Clone(gone.ReplicaRegions), func(r string) bool { return r == gone.Region })
	for _, region := range gone.relatedRegions() {
		r, err := loadKey(tx, gone.AccountID, region, gone.KeyID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r.ReplicaRegions = remaining
		if r.isPrimary() && len(remaining) == 0 && r.KeyState == statePendingReplicaDeletion {
			due := now.Add(days(r.PendingWindowDays))
			r.KeyState, r.DeletionDate = statePendingDeletion, &due
			if err := tx.Put(bucketDeletions, deletionKey(due, r.partition(), r.KeyID), nil); err != nil {
				return nil, err
			}
		}
		if err := putKey(tx, r); err != nil {
			return nil, err
		}
		invalid = append(invalid, cacheKeyID(r.AccountID, r.Region, r.KeyID))
	}
	return invalid, nil
}
