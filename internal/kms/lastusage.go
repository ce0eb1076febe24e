package kms

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/outbox"
	"github.com/kmsd/kmsd/internal/store"
)

// Last usage (GetKeyLastUsage). A successful cryptographic operation
// records its time, name and request id in memory (cache_usage.go), under
// one of 64 locks; the hot path writes nothing to disk. FlushLastUsage, run by the
// background jobs and once more at shutdown, writes the uses recorded since
// its previous run to the store, in place or as runs (lastusage_runs.go).
//
// Precision lost on a crash: the uses recorded since the last flush (at
// most one jobs interval, a minute by default). After the restart
// GetKeyLastUsage reports the last use flushed before the crash, or none,
// until the key is used again. CloudTrail (the audit log) keeps every call.

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
		s.usage.record(k.usageKey(), now, string(op), c.RequestID, c.EventID)
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

// trackingStartKey holds the tracking start date in bucketLastUsage; no
// partition starts with '!'.
var trackingStartKey = []byte("!trackingStart")

// trackingStart returns the date kmsd began recording key usage in this
// store: the start of the first process that flushed or reported usage.
func (s *Service) trackingStart(ctx context.Context) (time.Time, error) {
	if t := s.usage.start.Load(); t != nil {
		return *t, nil
	}
	var start time.Time
	// Written once, on the way to a call's own change: not that change, so
	// it does not commit the call's audit record (outbox.Without).
	err := s.store.Update(outbox.Without(ctx), func(tx store.Tx) error {
		b, err := tx.Get(bucketLastUsage, trackingStartKey)
		if errors.Is(err, store.ErrNotFound) {
			start = s.usage.started
			b, err = start.MarshalText()
			if err != nil {
				return err
			}
			return tx.Put(bucketLastUsage, trackingStartKey, b)
		}
		if err != nil {
			return err
		}
		return start.UnmarshalText(b)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("tracking start date: %w", err)
	}
	s.usage.start.Store(&start)
	return start, nil
}

// flushBatch is how many uses one transaction writes: each is an fsync,
// so fewer mean less of the disk's time, and a transaction of this many
// (a few milliseconds of work) holds up the store's other writers no
// longer than a large CreateKey group does.
const flushBatch = 1024

// PendingKeyUses is how many keys have a use recorded in memory that no
// flush has written yet: what a crash would lose, and what the next flush
// will write.
func (s *Service) PendingKeyUses() int64 { return s.usage.queued.Load() }

// UnmergedKeyUses is how many key uses the runs held when this node last
// counted them, at each flush and merge (lastusage_runs.go).
func (s *Service) UnmergedKeyUses() int64 { return s.usage.unmerged.Load() }

// KeyUsesBusy reports whether this node's flush runs, or a merge of the
// runs is due or runs on it.
func (s *Service) KeyUsesBusy() bool {
	u := s.usage
	return u.flushActive.Load() || u.mergeActive.Load() || u.mergeWanted.Load()
}

// LastUsageDue signals when so many keys have uses not yet written that
// FlushLastUsage should run before its interval.
func (s *Service) LastUsageDue() <-chan struct{} { return s.usage.due }

// FlushLastUsage writes the key uses recorded since the previous flush and
// returns how many it wrote. A use never overwrites a later one already
// stored, and uses of keys deleted meanwhile are dropped. The scheduler
// runs it with the other jobs, and the server once more when it stops.
func (s *Service) FlushLastUsage(ctx context.Context) (int, error) {
	if _, err := s.trackingStart(ctx); err != nil {
		return 0, err
	}
	if err := s.usage.lockFlush(ctx); err != nil {
		return 0, err
	}
	defer s.usage.unlockFlush()
	s.usage.flushActive.Store(true)
	defer s.usage.flushActive.Store(false)
	pending := s.usage.take()
	s.usage.idle.Store(len(pending) == 0)
	// In key order, so that each transaction rewrites a few neighbouring
	// pages of the store rather than one page per use, and so that runs
	// are in key order.
	slices.SortFunc(pending, func(a, b pendingUse) int { return bytes.Compare(a.key, b.key) })
	// Many uses go as runs, one a transaction (lastusage_runs.go); fewer
	// in place, flushBatch a transaction.
	size, put := flushBatch, putInPlace
	if len(pending) >= s.usage.runAt {
		size, put = s.usage.runMax, func(tx store.Tx, run []pendingUse) error {
			return putRun(tx, newRunID(s.now()), run)
		}
	}
	written := 0
	for len(pending) > 0 {
		batch := pending[:min(size, len(pending))]
		pending = pending[len(batch):]
		if err := s.store.Update(ctx, func(tx store.Tx) error { return put(tx, batch) }); err != nil {
			s.usage.requeue(batch)
			s.usage.requeue(pending)
			return written, fmt.Errorf("flush last key usage: %w", err)
		}
		s.usage.written(batch)
		written += len(batch)
	}
	return written, s.countRuns(ctx)
}

// putInPlace writes each use of batch where bucketLastUsage keeps its
// key's.
func putInPlace(tx store.Tx, batch []pendingUse) error {
	var buf []byte
	for _, p := range batch {
		buf = p.use.appendStored(buf[:0])
		if _, err := writeUse(tx, p.key, p.use.at, buf); err != nil {
			return err
		}
	}
	return nil
}

// writeUse stores a use (at, in its stored form) as the last of the key
// stored under key, and reports whether it did: not if the key is gone,
// was deleted after it (and made again), or has a later use stored
// (another node's). A stored use is read where the store keeps it, and
// only its time (storedUseAt, lastusage_codec.go). It also says the key
// is there: deleting a key deletes its last use in the same transaction
// (lifecycle.go), so the key's presence is read only for a key with no
// use stored yet.
func writeUse(tx store.Tx, key []byte, at int64, stored []byte) (bool, error) {
	if gone, err := goneAt(tx, key); err != nil || at <= gone {
		return false, err
	}
	b, err := store.Lend(tx, bucketLastUsage, key)
	switch {
	case err == nil:
		if was, ok := storedUseAt(b); ok && was > at {
			return false, nil
		}
	case errors.Is(err, store.ErrNotFound):
		if ok, err := store.Has(tx, bucketKeys, key); err != nil || !ok {
			return false, err
		}
	default:
		return false, err
	}
	// The store copies what it is given: the caller may reuse stored.
	return true, tx.Put(bucketLastUsage, key, stored)
}

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
	start, err := s.trackingStart(ctx)
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

// lastUseOf returns a key's last recorded use, the later of the one in
// memory and the one stored (another node's, or one a late request's
// older use did not replace); nil when none is recorded.
func (s *Service) lastUseOf(ctx context.Context, r *keyRecord) (*lastUseRecord, error) {
	key := string(keyKey(r.AccountID, r.Region, r.KeyID))
	var u *lastUseRecord
	if mem, ok := s.usage.peek(key); ok {
		rec := mem.record()
		u = &rec
	}
	later := func(b []byte) error {
		stored, err := decodeStoredUse(b)
		if err != nil {
			return fmt.Errorf("decode last usage of %s: %w", r.KeyID, err)
		}
		if u == nil || stored.At.After(u.At) {
			u = &stored
		}
		return nil
	}
	err := s.store.View(ctx, func(tx store.Tx) error {
		b, err := tx.Get(bucketLastUsage, []byte(key))
		switch {
		case err == nil:
			err = later(b)
		case errors.Is(err, store.ErrNotFound):
			err = nil
		}
		if err != nil {
			return err
		}
		if b, _, err = runUseOf(tx, []byte(key)); err != nil || b == nil {
			return err
		}
		return later(b)
	})
	return u, err
}
