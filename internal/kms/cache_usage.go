package kms

import (
	"context"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"
)

// The memory side of last usage (lastusage.go). The tracker keeps only
// what a flush has yet to write: a key's newest use from its first use
// after a flush until that use is written; GetKeyLastUsage reads older
// ones from the store. With a million keys used at random it holds
// hundreds of thousands of uses, which the collector would mark at every
// cycle, so it holds them without pointers (use and useKey, in maps the
// collector does not scan).

// lastUse is one use as the flush writes it and GetKeyLastUsage reports
// it: the request and event ids as their 16 bytes when both are lowercase
// UUIDs (the form of kmsd's own ids), other ids as given.
type lastUse struct {
	at        int64  // Unix nanoseconds, UTC
	operation string // a KeyLastUsageTrackingOperation constant
	uuids     [2][16]byte
	texts     *[2]string // the ids as given when either is not a UUID; then uuids is unused
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
	if len(s) != 36 {
		return compactID{text: s}
	}
	var c compactID
	for i, j := 0, 0; i < len(s); {
		if isUUIDDash(i) {
			if s[i] != '-' {
				return compactID{text: s}
			}
			i++
			continue
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return compactID{text: s} // upper case would not round-trip
		}
		c.uuid[j] = hi<<4 | lo
		i, j = i+2, j+1
	}
	c.isUUID = true
	return c
}

// lowerHex is the value of a lowercase hex digit.
func lowerHex(ch byte) (byte, bool) {
	switch {
	case '0' <= ch && ch <= '9':
		return ch - '0', true
	case 'a' <= ch && ch <= 'f':
		return ch - 'a' + 10, true
	}
	return 0, false
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

// use is a recorded use as the tracker holds it: its time, the number of
// its operation's name, and its request and event ids' bytes; ids in
// another form are held beside it (useSet.odd).
type use struct {
	at  int64 // Unix nanoseconds, UTC
	op  uint32
	odd bool
	ids [2][16]byte
}

// useSet is a set of keys' uses; its maps are made on the first put.
type useSet struct {
	uses map[useKey]use
	odd  map[useKey][2]string // the ids of the uses that are not both UUIDs
}

func (s *useSet) put(k useKey, u use, texts [2]string) {
	if s.uses == nil {
		s.uses = make(map[useKey]use)
	}
	s.uses[k] = u
	switch {
	case u.odd:
		if s.odd == nil {
			s.odd = make(map[useKey][2]string)
		}
		s.odd[k] = texts
	case s.odd != nil:
		delete(s.odd, k)
	}
}

func (s *useSet) get(k useKey) (use, [2]string, bool) {
	u, ok := s.uses[k]
	if ok && u.odd {
		return u, s.odd[k], true
	}
	return u, [2]string{}, ok
}

func (s *useSet) remove(k useKey) bool {
	if _, ok := s.uses[k]; !ok {
		return false
	}
	delete(s.uses, k)
	if s.odd != nil {
		delete(s.odd, k)
	}
	return true
}

// dropIfEmpty lets go of empty maps: a map keeps the table of its
// largest size, and every use recorded looks its key up in the inflight
// set, where a lookup in an emptied table of a large flush's size would
// read a cold line of memory for nothing.
func (s *useSet) dropIfEmpty() {
	if len(s.uses) == 0 {
		*s = useSet{}
	}
}

func (s *useSet) has(k useKey) bool {
	_, ok := s.uses[k]
	return ok
}

const usageShards = 64

// usageTracker holds, by key, the newest use not yet written. Each shard
// holds the uses recorded since the last flush took them (pending) and
// those the running flush took and has not yet written (inflight), which
// GetKeyLastUsage still reports from memory.
type usageTracker struct {
	shards [usageShards]struct {
		mu       sync.Mutex
		pending  useSet
		inflight useSet
	}
	keys, ops names
	// flushing lets one flush at a time take and write uses (lockFlush).
	flushing chan struct{}
	// started is when this process began recording; the store keeps the
	// first such date as the tracking start (see trackingStart).
	started time.Time
	start   atomic.Pointer[time.Time]
	// queued counts the keys with a use in memory (pending, inflight or
	// both); from flushAt of them on, every new one asks (through due)
	// for a flush before the jobs' interval, also while one runs, so
	// flushes follow each other while uses of distinct keys come faster
	// than one writes them, and the tracker's memory stays bounded.
	queued  atomic.Int64
	flushAt int64
	due     chan struct{}
	// How flushes write and merge runs (lastusage_runs.go); tests lower them.
	runAt, runMax, mergeUses, mergeRuns int
	// unmerged is how many uses the runs held when last counted;
	// mergeWanted is whether a merge was then due; mergeSignal asks for
	// one; merging lets one merge run at a time; idle is whether the last
	// flush found nothing to write.
	unmerged                                    atomic.Int64
	flushActive, mergeActive, mergeWanted, idle atomic.Bool
	mergeSignal, merging                        chan struct{}
}

// usageFlushAt is how many keys with unwritten uses ask for an early
// flush: about 20 MB of them (some 80 bytes a key in the maps). A flush
// reads each key's record and last use, in key order; the more of a
// million keys one flush takes, the closer together they lie in the
// store, so a smaller set costs more per use written.
const usageFlushAt = 250_000

func newUsageTracker(now time.Time) *usageTracker {
	return &usageTracker{started: now, flushAt: usageFlushAt, due: make(chan struct{}, 1), flushing: make(chan struct{}, 1),
		runAt: usageRunAt, runMax: usageRunMax, mergeUses: usageMergeUses, mergeRuns: usageMergeRuns,
		mergeSignal: make(chan struct{}, 1), merging: make(chan struct{}, 1)}
}

// lockFlush waits for the flush running, if any, to end, or for ctx.
func (t *usageTracker) lockFlush(ctx context.Context) error {
	select {
	case t.flushing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *usageTracker) unlockFlush() { <-t.flushing }

func (t *usageTracker) shard(k useKey) int {
	return int((uint32(k.id[0])|uint32(k.id[15])<<8)^k.part) % usageShards
}

// record notes a use of key, a store key, unless a later one is held.
func (t *usageTracker) record(key string, at time.Time, op, requestID, eventID string) {
	k := t.keys.useKeyOf(key)
	u := use{at: at.UnixNano(), op: t.ops.number(op)}
	var texts [2]string
	if r, e := newCompactID(requestID), newCompactID(eventID); r.isUUID && e.isUUID {
		u.ids = [2][16]byte{r.uuid, e.uuid}
	} else {
		u.odd, texts = true, [2]string{requestID, eventID}
	}
	sh := &t.shards[t.shard(k)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if cur, ok := sh.inflight.uses[k]; ok && cur.at > u.at {
		return // a flush is writing a later use
	}
	cur, ok := sh.pending.uses[k]
	if ok && cur.at > u.at {
		return
	}
	sh.pending.put(k, u, texts)
	if !ok && !sh.inflight.has(k) && t.queued.Add(1) >= t.flushAt {
		select {
		case t.due <- struct{}{}:
		default:
		}
	}
}

// peek returns key's newest use not yet known to be in the store.
func (t *usageTracker) peek(key string) (lastUse, bool) {
	k := t.keys.useKeyOf(key)
	sh := &t.shards[t.shard(k)]
	sh.mu.Lock()
	u, texts, ok := sh.pending.get(k)
	if !ok {
		u, texts, ok = sh.inflight.get(k)
	}
	sh.mu.Unlock()
	if !ok {
		return lastUse{}, false
	}
	return t.lastUse(u, texts), true
}

func (t *usageTracker) lastUse(u use, texts [2]string) lastUse {
	l := lastUse{at: u.at, operation: t.ops.name(u.op), uuids: u.ids}
	if u.odd {
		l.texts = &texts
	}
	return l
}

// forget drops a deleted key's uses.
func (t *usageTracker) forget(key string) {
	k := t.keys.useKeyOf(key)
	sh := &t.shards[t.shard(k)]
	sh.mu.Lock()
	p, f := sh.pending.remove(k), sh.inflight.remove(k)
	sh.inflight.dropIfEmpty()
	sh.mu.Unlock()
	if p || f {
		t.queued.Add(-1)
	}
}

// pendingUse is a use a flush writes.
type pendingUse struct {
	key  []byte // the store key
	name useKey
	use  lastUse
}

// take lists the uses recorded since the last flush, which stay in
// memory (inflight) until written or requeued; the caller holds lockFlush.
func (t *usageTracker) take() []pendingUse {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.pending.uses) + len(sh.inflight.uses)
		sh.mu.Unlock()
	}
	// Room for uses recorded meanwhile, and one array for every key.
	out := make([]pendingUse, 0, n+n/8)
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		left := sh.inflight // empty unless a flush ended without saying
		// Sized for as many keys as this flush takes: under steady load the
		// next fills about as many, and growing a map to that size from
		// empty would rehash it several times.
		sh.inflight, sh.pending = sh.pending, useSet{}
		if n := len(sh.inflight.uses); n > 0 {
			sh.pending.uses = make(map[useKey]use, n)
		}
		for k, u := range left.uses {
			if cur, ok := sh.inflight.uses[k]; !ok || cur.at < u.at {
				_, texts, _ := left.get(k)
				sh.inflight.put(k, u, texts)
			}
		}
		sh.inflight.dropIfEmpty() // a table sized for a flush that never came
		for k, u := range sh.inflight.uses {
			_, texts, _ := sh.inflight.get(k)
			out = append(out, pendingUse{name: k, use: t.lastUse(u, texts)})
		}
		sh.mu.Unlock()
	}
	size := 0
	for _, p := range out {
		size += len(t.keys.name(p.name.part))
		if p.name.kind != kindWhole {
			size += keyIDLen
		}
	}
	keys := make([]byte, 0, size)
	for i := range out {
		start := len(keys)
		keys = t.keys.appendStoreKey(keys, out[i].name)
		out[i].key = keys[start:len(keys):len(keys)]
	}
	return out
}

// written notes that ps are in the store.
func (t *usageTracker) written(ps []pendingUse) {
	for _, p := range ps {
		sh := &t.shards[t.shard(p.name)]
		sh.mu.Lock()
		if sh.inflight.remove(p.name) && !sh.pending.has(p.name) {
			t.queued.Add(-1)
		}
		sh.inflight.dropIfEmpty()
		sh.mu.Unlock()
	}
}

// requeue puts back uses a failed flush did not write, unless a later
// use of the key was recorded meanwhile.
func (t *usageTracker) requeue(ps []pendingUse) {
	for _, p := range ps {
		sh := &t.shards[t.shard(p.name)]
		sh.mu.Lock()
		if u, texts, ok := sh.inflight.get(p.name); ok {
			sh.inflight.remove(p.name)
			if cur, ok := sh.pending.uses[p.name]; !ok || cur.at < u.at {
				sh.pending.put(p.name, u, texts)
			}
		}
		sh.inflight.dropIfEmpty()
		sh.mu.Unlock()
	}
}
