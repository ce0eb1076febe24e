package kms

import (
	"encoding/hex"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// The memory side of last usage (lastusage.go). With a million keys in
// use, what the tracker keeps per key decides much of the heap, so it keeps
// only what a flush has yet to write or a cached key may record into: a
// slot is held by the cached key that made it and, while it has a use not
// yet flushed, by the dirty set; a key's slot that neither holds is
// collected, and GetKeyLastUsage reads that key's last use from the store.
// One live slot per key (a weakTable), so every cached snapshot of a key
// records into the same one.

// lastUse is one recorded use, immutable once published. Request and
// event ids are kept as their 16 bytes, so a use holds no strings of the
// request that made it.
type lastUse struct {
	at        int64  // Unix nanoseconds, UTC
	operation string // a KeyLastUsageTrackingOperation constant
	requestID compactID
	eventID   compactID
}

func newLastUse(at time.Time, op, requestID, eventID string) *lastUse {
	return &lastUse{at: at.UnixNano(), operation: op, requestID: newCompactID(requestID), eventID: newCompactID(eventID)}
}

func (u *lastUse) time() time.Time { return time.Unix(0, u.at).UTC() }

// lastUseRecord is a lastUse as the store keeps it.
type lastUseRecord struct {
	At        time.Time `json:"at"`
	Operation string    `json:"operation"`
	RequestID string    `json:"requestId"`
	EventID   string    `json:"eventId,omitempty"`
}

func (u *lastUse) record() lastUseRecord {
	return lastUseRecord{At: u.time(), Operation: u.operation, RequestID: u.requestID.String(), EventID: u.eventID.String()}
}

// compactID is an id that is usually a lowercase UUID (the form of
// kmsd's request and event ids): its 16 bytes, or any other text as is.
type compactID struct {
	uuid   [16]byte
	isUUID bool
	text   string
}

func newCompactID(s string) compactID {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return compactID{text: s}
	}
	var c compactID
	at := 0
	for _, n := range []int{8, 4, 4, 4, 12} {
		for i := 0; i < n; i++ {
			if ch := s[at+i]; !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f') {
				return compactID{text: s} // upper case would not round-trip
			}
		}
		at += n + 1
	}
	hexed := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(c.uuid[:], []byte(hexed)); err != nil {
		return compactID{text: s}
	}
	c.isUUID = true
	return c
}

func (c compactID) String() string {
	if !c.isUUID {
		return c.text
	}
	var b [36]byte
	hex.Encode(b[0:8], c.uuid[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], c.uuid[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], c.uuid[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], c.uuid[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], c.uuid[10:16])
	return string(b[:])
}

// usageSlot holds a key's newest use and the one last written to the store.
type usageSlot struct {
	key     string // partition | key id
	last    atomic.Pointer[lastUse]
	flushed atomic.Pointer[lastUse]
	queued  atomic.Bool // in the dirty set
}

const usageShards = 64

// usageTracker finds a key's slot by its store key (partition and key id)
// and lists the slots with uses to flush.
type usageTracker struct {
	slots  weakTable[string, usageSlot]
	seed   maphash.Seed
	shards [usageShards]struct {
		mu    sync.Mutex
		dirty map[string]*usageSlot
	}
	// started is when this process began recording; the store keeps the
	// first such date as the tracking start (see trackingStart).
	started time.Time
	start   atomic.Pointer[time.Time]
}

func newUsageTracker(now time.Time) *usageTracker {
	t := &usageTracker{seed: maphash.MakeSeed(), started: now}
	for i := range t.shards {
		t.shards[i].dirty = make(map[string]*usageSlot)
	}
	return t
}

func (t *usageTracker) shard(key string) int {
	return int(maphash.String(t.seed, key) % usageShards)
}

// slot returns key's slot, creating it if needed.
func (t *usageTracker) slot(key string) *usageSlot {
	return t.slots.get(key, func() *usageSlot { return &usageSlot{key: key} })
}

// record publishes u in s unless s already holds a later use, and puts s
// in the dirty set if it is not there.
func (t *usageTracker) record(s *usageSlot, u *lastUse) {
	for {
		cur := s.last.Load()
		if cur != nil && cur.at > u.at {
			return
		}
		if s.last.CompareAndSwap(cur, u) {
			break
		}
	}
	if !s.queued.Load() && s.queued.CompareAndSwap(false, true) {
		t.enqueue(s)
	}
}

func (t *usageTracker) enqueue(s *usageSlot) {
	sh := &t.shards[t.shard(s.key)]
	sh.mu.Lock()
	sh.dirty[s.key] = s
	sh.mu.Unlock()
}

// peek returns key's newest recorded use in memory, or nil.
func (t *usageTracker) peek(key string) *lastUse {
	s := t.slots.lookup(key)
	if s == nil {
		return nil
	}
	return s.last.Load()
}

// forget drops a deleted key's pending use.
func (t *usageTracker) forget(key string) {
	sh := &t.shards[t.shard(key)]
	sh.mu.Lock()
	delete(sh.dirty, key)
	sh.mu.Unlock()
}

type pendingUse struct {
	key  string
	slot *usageSlot
	use  *lastUse
}

// dirty takes the slots whose newest use the store does not have yet out
// of the dirty set; a use recorded meanwhile puts its slot back.
func (t *usageTracker) dirty() []pendingUse {
	var out []pendingUse
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for k, s := range sh.dirty {
			s.queued.Store(false) // before reading last: a later use re-queues
			if u := s.last.Load(); u != nil && u != s.flushed.Load() {
				out = append(out, pendingUse{key: k, slot: s, use: u})
			}
		}
		clear(sh.dirty)
		sh.mu.Unlock()
	}
	return out
}

// requeue puts back slots a failed flush did not write.
func (t *usageTracker) requeue(ps []pendingUse) {
	for _, p := range ps {
		if p.slot.queued.CompareAndSwap(false, true) {
			t.enqueue(p.slot)
		}
	}
}
