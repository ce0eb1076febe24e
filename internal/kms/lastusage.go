package kms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/store"
)

// Last usage (GetKeyLastUsage). A successful cryptographic operation
// records its time, name and request id in the key's usage slot: one atomic
// pointer store, reached from the cached key without a map lookup, so the
// hot path gains no lock and no disk write. FlushLastUsage, run by the
// background jobs and once more at shutdown, writes the uses recorded since
// its previous run to the store.
//
// Precision lost on a crash: the uses recorded since the last flush (at
// most one jobs interval, a minute by default). After the restart
// GetKeyLastUsage reports the last use flushed before the crash, or none,
// until the key is used again. CloudTrail (the audit log) keeps every call.

// lastUse is one recorded use. Values are immutable once published.
type lastUse struct {
	At        time.Time `json:"at"`
	Operation string    `json:"operation"`
	RequestID string    `json:"requestId"`
	EventID   string    `json:"eventId,omitempty"`
}

// usageSlot holds a key's newest use and the one last written to the store.
type usageSlot struct {
	last    atomic.Pointer[lastUse]
	flushed atomic.Pointer[lastUse]
}

// record publishes u unless the slot already holds a later use.
func (s *usageSlot) record(u *lastUse) {
	for {
		cur := s.last.Load()
		if cur != nil && cur.At.After(u.At) {
			return
		}
		if s.last.CompareAndSwap(cur, u) {
			return
		}
	}
}

const usageShards = 64

// usageTracker finds a key's slot by its store key (partition and key id).
// Slots are created when a key enters the cache, so a cryptographic
// operation reaches its slot through the cached key and never touches the
// shards' locks.
type usageTracker struct {
	seed   maphash.Seed
	shards [usageShards]struct {
		mu sync.Mutex
		m  map[string]*usageSlot
	}
	// started is when this process began recording; the store keeps the
	// first such date as the tracking start (see trackingStart).
	started time.Time
	start   atomic.Pointer[time.Time]
}

func newUsageTracker(now time.Time) *usageTracker {
	t := &usageTracker{seed: maphash.MakeSeed(), started: now}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*usageSlot)
	}
	return t
}

func (t *usageTracker) shard(key string) int {
	return int(maphash.String(t.seed, key) % usageShards)
}

// slot returns key's slot, creating it if needed.
func (t *usageTracker) slot(key string) *usageSlot {
	sh := &t.shards[t.shard(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s, ok := sh.m[key]
	if !ok {
		s = new(usageSlot)
		sh.m[key] = s
	}
	return s
}

// peek returns key's newest recorded use in memory, or nil.
func (t *usageTracker) peek(key string) *lastUse {
	sh := &t.shards[t.shard(key)]
	sh.mu.Lock()
	s := sh.m[key]
	sh.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.last.Load()
}

// forget drops a deleted key's slot.
func (t *usageTracker) forget(key string) {
	sh := &t.shards[t.shard(key)]
	sh.mu.Lock()
	delete(sh.m, key)
	sh.mu.Unlock()
}

type pendingUse struct {
	key  string
	slot *usageSlot
	use  *lastUse
}

// dirty lists the slots whose newest use the store does not have yet.
func (t *usageTracker) dirty() []pendingUse {
	var out []pendingUse
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for k, s := range sh.m {
			if u := s.last.Load(); u != nil && u != s.flushed.Load() {
				out = append(out, pendingUse{key: k, slot: s, use: u})
			}
		}
		sh.mu.Unlock()
	}
	return out
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
	var u *lastUse
	for _, k := range c.used {
		if k == nil || k.usage == nil {
			continue
		}
		if u == nil {
			u = &lastUse{At: s.now(), Operation: string(op), RequestID: c.RequestID, EventID: c.EventID}
		}
		k.usage.record(u)
	}
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
	err := s.store.Update(ctx, func(tx store.Tx) error {
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

const flushBatch = 256

// FlushLastUsage writes the key uses recorded since the previous flush and
// returns how many it wrote. A use never overwrites a later one already
// stored, and uses of keys deleted meanwhile are dropped. The scheduler
// runs it with the other jobs, and the server once more when it stops.
func (s *Service) FlushLastUsage(ctx context.Context) (int, error) {
	if _, err := s.trackingStart(ctx); err != nil {
		return 0, err
	}
	pending := s.usage.dirty()
	written := 0
	for len(pending) > 0 {
		batch := pending[:min(flushBatch, len(pending))]
		pending = pending[len(batch):]
		err := s.store.Update(ctx, func(tx store.Tx) error {
			for _, p := range batch {
				k := []byte(p.key)
				if _, err := tx.Get(bucketKeys, k); errors.Is(err, store.ErrNotFound) {
					continue
				} else if err != nil {
					return err
				}
				if b, err := tx.Get(bucketLastUsage, k); err == nil {
					var old lastUse
					if json.Unmarshal(b, &old) == nil && old.At.After(p.use.At) {
						continue
					}
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				b, err := json.Marshal(p.use)
				if err != nil {
					return err
				}
				if err := tx.Put(bucketLastUsage, k, b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return written, fmt.Errorf("flush last key usage: %w", err)
		}
		for _, p := range batch {
			p.slot.flushed.Store(p.use)
		}
		written += len(batch)
	}
	return written, nil
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

// lastUseOf returns a key's last recorded use, from memory or the store;
// nil when none is recorded.
func (s *Service) lastUseOf(ctx context.Context, r *keyRecord) (*lastUse, error) {
	key := string(keyKey(r.AccountID, r.Region, r.KeyID))
	if u := s.usage.peek(key); u != nil {
		return u, nil
	}
	var u *lastUse
	err := s.store.View(ctx, func(tx store.Tx) error {
		b, err := tx.Get(bucketLastUsage, []byte(key))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var stored lastUse
		if err := json.Unmarshal(b, &stored); err != nil {
			return fmt.Errorf("decode last usage of %s: %w", r.KeyID, err)
		}
		u = &stored
		return nil
	})
	return u, err
}
