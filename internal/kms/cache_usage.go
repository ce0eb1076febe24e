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
// only what a flush has yet to write: the dirty set holds a key's slot
// from its first use after a flush until that use is written, and the
// cached key holds it to record the next uses with one atomic store; a
// key's slot that neither holds is collected, and GetKeyLastUsage reads
// that key's last use from the store.

// lastUse is one recorded use, immutable once published. Every successful
// cryptographic request makes one, and the dirty set holds up to
// usageFlushAt of them, so it is kept to 64 bytes: the request and event
// ids as their 16 bytes when both are lowercase UUIDs (the form of kmsd's
// own ids), and no strings of the request that made it; other ids are
// kept as given.
type lastUse struct {
	at        int64  // Unix nanoseconds, UTC
	operation string // a KeyLastUsageTrackingOperation constant
	uuids     [2][16]byte
	texts     *[2]string // the ids as given when either is not a UUID; then uuids is unused
}

func newLastUse(at time.Time, op, requestID, eventID string) *lastUse {
	u := &lastUse{at: at.UnixNano(), operation: op}
	r, e := newCompactID(requestID), newCompactID(eventID)
	if r.isUUID && e.isUUID {
		u.uuids = [2][16]byte{r.uuid, e.uuid}
	} else {
		u.texts = &[2]string{requestID, eventID}
	}
	return u
}

func (u *lastUse) requestID() compactID { return u.id(0) }
func (u *lastUse) eventID() compactID   { return u.id(1) }

func (u *lastUse) id(i int) compactID {
	if u.texts == nil {
		return compactID{uuid: u.uuids[i], isUUID: true}
	}
	return newCompactID(u.texts[i])
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
	return lastUseRecord{At: u.time(), Operation: u.operation, RequestID: u.requestID().String(), EventID: u.eventID().String()}
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
	return string(c.appendUUID(b[:0]))
}

// appendUUID appends the UUID c holds in its lowercase text form.
func (c compactID) appendUUID(dst []byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, 36)...)
	b := dst[n:]
	hex.Encode(b[0:8], c.uuid[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], c.uuid[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], c.uuid[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], c.uuid[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], c.uuid[10:16])
	return dst
}

// usageSlot holds a key's newest use and the one last written to the store.
type usageSlot struct {
	key     string // partition | key id
	last    atomic.Pointer[lastUse]
	flushed atomic.Pointer[lastUse]
	// queued is set while the slot has a use the next flush must take. A
	// slot leaves the dirty set only unqueued, with its last use written or
	// its key deleted, and is never queued again then.
	queued atomic.Bool
}

// leave takes s, key's slot, out of dirty, the map of its shard (whose
// lock is held), and drops its uses: a cached key holds its slot until
// its next use, which then takes a new slot, so the uses of a key used
// once would otherwise stay in memory while it is cached. s is unqueued
// too, so that a stale holder records through the lock.
func (t *usageTracker) leave(dirty map[string]*usageSlot, key string, s *usageSlot) {
	delete(dirty, key)
	t.queued.Add(-1)
	s.queued.Store(false)
	s.last.Store(nil)
	s.flushed.Store(nil)
}

// publish sets u as s's newest use unless s holds a later one.
func (s *usageSlot) publish(u *lastUse) {
	for {
		cur := s.last.Load()
		if cur != nil && cur.at > u.at {
			return
		}
		if s.last.CompareAndSwap(cur, u) {
			return
		}
	}
}

const usageShards = 64

// usageTracker holds the slots of keys with a use not yet flushed, by
// store key (partition and key id).
type usageTracker struct {
	seed   maphash.Seed
	shards [usageShards]struct {
		mu    sync.Mutex
		dirty map[string]*usageSlot
	}
	// started is when this process began recording; the store keeps the
	// first such date as the tracking start (see trackingStart).
	started time.Time
	start   atomic.Pointer[time.Time]
	// queued counts the dirty slots; from flushAt of them on, every new
	// slot asks (through due) for a flush before the jobs' interval, also
	// while one runs, so flushes follow each other while uses of distinct
	// keys come faster than one writes them, and the set's memory stays
	// bounded.
	queued  atomic.Int64
	flushAt int64
	due     chan struct{}
}

// usageFlushAt is how many keys with unwritten uses ask for an early
// flush: 40 to 60 MB of them (about 170 bytes a key, and its 64-byte name
// when the key cache does not hold the key). A flush reads each key's
// record and last use, in key order; the more of a million keys one flush
// takes, the closer together they lie in the store, so a smaller set
// costs more per use written.
const usageFlushAt = 250_000

func newUsageTracker(now time.Time) *usageTracker {
	t := &usageTracker{seed: maphash.MakeSeed(), started: now, flushAt: usageFlushAt, due: make(chan struct{}, 1)}
	for i := range t.shards {
		t.shards[i].dirty = make(map[string]*usageSlot)
	}
	return t
}

func (t *usageTracker) shard(key string) int {
	return int(maphash.String(t.seed, key) % usageShards)
}

// record publishes u as a use of the key whose slot the cached key holds
// in *held. While that slot is queued this is an atomic store; otherwise
// (the key's first use since a flush) the shard's lock finds or makes the
// key's queued slot, and *held becomes it.
func (t *usageTracker) record(key string, held *atomic.Pointer[usageSlot], u *lastUse) {
	if s := held.Load(); s != nil && s.queued.Load() {
		s.publish(u)
		// A flush that unqueued s before this load may have read last
		// before u: then record u again through the lock.
		if s.queued.Load() {
			return
		}
	}
	sh := &t.shards[t.shard(key)]
	sh.mu.Lock()
	s := sh.dirty[key]
	if s == nil {
		s = &usageSlot{key: key}
		sh.dirty[key] = s
		if t.queued.Add(1) >= t.flushAt {
			select {
			case t.due <- struct{}{}:
			default:
			}
		}
	}
	s.publish(u)
	s.queued.Store(true)
	sh.mu.Unlock()
	held.Store(s)
}

// peek returns key's newest use not yet known to be in the store, or nil.
func (t *usageTracker) peek(key string) *lastUse {
	sh := &t.shards[t.shard(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s := sh.dirty[key]; s != nil {
		return s.last.Load()
	}
	return nil
}

// forget drops a deleted key's pending use.
func (t *usageTracker) forget(key string) {
	sh := &t.shards[t.shard(key)]
	sh.mu.Lock()
	if s, ok := sh.dirty[key]; ok {
		t.leave(sh.dirty, key, s)
	}
	sh.mu.Unlock()
}

type pendingUse struct {
	key  string
	slot *usageSlot
	use  *lastUse
}

// dirty unqueues and lists the uses the store does not have yet; a use
// recorded meanwhile queues its slot again. A slot queued with nothing
// new to write (an older use, recorded while a flush wrote a later one)
// leaves the set here, as written would have let it.
func (t *usageTracker) dirty() []pendingUse {
	var out []pendingUse
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for k, s := range sh.dirty {
			if !s.queued.Load() {
				continue // taken by a flush still writing it
			}
			s.queued.Store(false) // before reading last: see record
			if u := s.last.Load(); u != nil && u != s.flushed.Load() {
				out = append(out, pendingUse{key: k, slot: s, use: u})
				continue
			}
			t.leave(sh.dirty, k, s)
		}
		sh.mu.Unlock()
	}
	return out
}

// written notes that ps are in the store: their slots leave the dirty set
// unless a newer use queued them again.
func (t *usageTracker) written(ps []pendingUse) {
	for _, p := range ps {
		sh := &t.shards[t.shard(p.key)]
		sh.mu.Lock()
		switch {
		case sh.dirty[p.key] != p.slot: // its key was deleted meanwhile
		case p.slot.queued.Load():
			p.slot.flushed.Store(p.use)
		default:
			t.leave(sh.dirty, p.key, p.slot)
		}
		sh.mu.Unlock()
	}
}

// requeue puts back slots a failed flush did not write.
func (t *usageTracker) requeue(ps []pendingUse) {
	for _, p := range ps {
		sh := &t.shards[t.shard(p.key)]
		sh.mu.Lock()
		if sh.dirty[p.key] == p.slot {
			p.slot.queued.Store(true)
		}
		sh.mu.Unlock()
	}
}
