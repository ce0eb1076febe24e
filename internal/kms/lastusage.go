package kms

import (
	"context"
	"time"

	"github.com/kmsd/kmsd/internal/kms/keyuse"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/store"
)

// Last usage (GetKeyLastUsage). A successful cryptographic operation
// records its time, name and request id in the Service's keyuse.Tracker;
// the hot path writes nothing to disk. FlushLastUsage, run by the
// background jobs and once more at shutdown, writes the uses recorded
// since its previous run to the store.

// usageTracker is a tracker of uses of this Service's keys, with limits l
// (zero fields: the defaults).
func (s *Service) usageTracker(l keyuse.Limits) *keyuse.Tracker {
	return keyuse.NewTracker(keyuse.Config{Store: s.store, Now: s.now, Keys: bucketKeys, Limits: l})
}

// use notes a key the operation resolved, for RecordsUse. An operation
// uses at most two keys (ReEncrypt); AWS records the use on both.
func (c *Call) use(k *cachedKey) {
	for i := range c.used {
		switch c.used[i] {
		case k:
			return
		case nil:
			c.used[i] = k
			return
		}
	}
}

// RecordsUse wraps a cryptographic operation so that its success records a
// use of every key it resolved, under the operation's name. The route table
// wraps exactly the operations AWS tracks (KeyLastUsageTrackingOperation).
func RecordsUse[I, O any](op kmsapi.KeyLastUsageTrackingOperation, f func(*Service, context.Context, *Call, I) (O, error)) func(*Service, context.Context, *Call, I) (O, error) {
	return func(s *Service, ctx context.Context, c *Call, in I) (O, error) {
		out, err := f(s, ctx, c, in)
		if err == nil {
			s.recordUse(c, op)
		}
		return out, err
	}
}

func (s *Service) recordUse(c *Call, op kmsapi.KeyLastUsageTrackingOperation) {
	var now time.Time
	for _, k := range c.used {
		if k == nil || k.rec == nil {
			continue
		}
		if now.IsZero() {
			now = s.now()
		}
		s.usage.Record(k.usageKey(), now, string(op), c.RequestID, c.EventID)
	}
}

// usageKey is the key's store key (partition | key id), the tail of its
// cache key.
func (k *cachedKey) usageKey() string {
	if k.entry.key != "" {
		return k.entry.key[len("k|"):]
	}
	return k.rec.partition() + k.rec.KeyID
}

// PendingKeyUses is how many keys have a use recorded in memory that no
// flush has written yet: what a crash would lose, and what the next flush
// will write.
func (s *Service) PendingKeyUses() int64 { return s.usage.Pending() }

// UnmergedKeyUses is how many key uses the runs held when this node last
// counted them, at each flush and merge.
func (s *Service) UnmergedKeyUses() int64 { return s.usage.Unmerged() }

// KeyUsesBusy reports whether this node's flush runs, or a merge of the
// runs is due or runs on it.
func (s *Service) KeyUsesBusy() bool { return s.usage.Busy() }

// LastUsageDue signals when so many keys have uses not yet written that
// FlushLastUsage should run before its interval.
func (s *Service) LastUsageDue() <-chan struct{} { return s.usage.FlushDue() }

// FlushLastUsage writes the key uses recorded since the previous flush and
// returns how many it wrote. A use never overwrites a later one already
// stored, and uses of keys deleted meanwhile are dropped. The scheduler
// runs it with the other jobs, and the server once more when it stops.
func (s *Service) FlushLastUsage(ctx context.Context) (int, error) { return s.usage.Flush(ctx) }

// KeyUseMergeDue signals when a flush finds a merge of the runs due.
func (s *Service) KeyUseMergeDue() <-chan struct{} { return s.usage.MergeDue() }

// MergeKeyUseRuns merges the runs of key uses into place when they hold
// enough uses, number enough, or the oldest is keyuse.MergeAge old, or
// this node's last flush wrote nothing, and drops the deletion notes older
// than keyuse.GoneKept. It returns how many uses it wrote in place. The
// scheduler runs it after each flush; in a cluster, on the leader only,
// over every node's runs.
func (s *Service) MergeKeyUseRuns(ctx context.Context) (int, error) { return s.usage.Merge(ctx) }

// GetKeyLastUsage reports the last successful cryptographic use of a key
// since tracking began. A key never used since then has an empty
// KeyLastUsage; TrackingStartDate is the later of the tracking start and
// the key's creation. Related multi-Region keys track their use
// independently, as in AWS.
//
// KmsRequestId and CloudTrailEventId are the requestID and the eventID of
// that call's audit record.
func (s *Service) GetKeyLastUsage(ctx context.Context, c *Call, in *kmsapi.GetKeyLastUsageInput) (*kmsapi.GetKeyLastUsageOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	k, err := s.lookup(ctx, c, in.KeyId, keyOnly, "kms:GetKeyLastUsage", nil, nil)
	if err != nil {
		return nil, err
	}
	start, err := s.usage.TrackingStart(ctx)
	if err != nil {
		return nil, storeErr(err, "get key last usage")
	}
	r := k.rec
	if r.Created.After(start) {
		start = r.Created
	}
	u, err := s.lastUseOf(ctx, r)
	if err != nil {
		return nil, storeErr(err, "get key last usage")
	}
	out := &kmsapi.GetKeyLastUsageOutput{
		KeyId:             r.KeyID,
		KeyCreationDate:   kmsapi.Time(r.Created),
		TrackingStartDate: kmsapi.Time(start),
		KeyLastUsage:      &kmsapi.KeyLastUsageData{},
	}
	if u != nil {
		out.KeyLastUsage = &kmsapi.KeyLastUsageData{
			Operation:         kmsapi.KeyLastUsageTrackingOperation(u.Operation),
			Timestamp:         kmsapi.Time(u.At),
			CloudTrailEventId: u.EventID,
			KmsRequestId:      u.RequestID,
		}
	}
	return out, nil
}

// lastUseOf returns a key's last recorded use; nil when none is recorded.
func (s *Service) lastUseOf(ctx context.Context, r *keyRecord) (*keyuse.Use, error) {
	return s.usage.LastUse(ctx, string(keyKey(r.AccountID, r.Region, r.KeyID)), r.KeyID)
}

// CompactKeyUses is the store migration to schema version 4, after which
// uses may be stored compactly; it marks the store so that an earlier
// kmsd, which reads only JSON, refuses it. It rewrites nothing: a key's
// JSON record is read as before and replaced at its next flush. Rewriting
// every record would hold a million-key store's bucket in one transaction
// (and the group commit's undo log) at start, and would fail the start on
// any record that fails authentication, which a start otherwise logs and
// leaves refused until it is read.
func CompactKeyUses(context.Context, store.Tx) error { return nil }

// KeyUseRuns is the store migration to schema version 6, after which a
// flush may leave key uses in runs, which an earlier kmsd does not read
// (and whose deletions note nothing in keyuse.BucketGone); it marks the
// store so that such a kmsd refuses it. It rewrites nothing.
func KeyUseRuns(context.Context, store.Tx) error { return nil }
