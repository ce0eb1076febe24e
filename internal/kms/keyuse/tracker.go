package keyuse

import (
	"cmp"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsd/kmsd/internal/store"
)

// The memory side of last usage. The tracker keeps only what a flush has
// yet to write: a key's newest use from its first use after a flush until
// that use is written; LastUse reads older ones from the store. With a
// million keys used at random it holds hundreds of thousands of uses,
// which the collector would mark at every cycle, so it holds them without
// pointers (use and useKey, in maps the collector does not scan).

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

// Tracker holds, by key, the newest use not yet written, and writes and
// reads the uses in the store. Each shard holds the uses recorded since
// the last flush took them (pending) and those the running flush took and
// has not yet written (inflight), which LastUse still reports from memory.
type Tracker struct {
	shards [usageShards]struct {
		mu       sync.Mutex
		pending  useSet
		inflight useSet
	}
	keys, ops names
	store     store.Store
	now       func() time.Time
	keyBucket []byte // Config.Keys
	// flushing lets one flush at a time take and write uses (lockFlush).
	flushing chan struct{}
	// started is when this process began recording; the store keeps the
	// first such date as the tracking start (see TrackingStart).
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
	// How flushes write and merge runs (runs.go, Config.Limits).
	runAt, runMax, mergeUses, mergeRuns int
	// unmerged is how many uses the runs held when last counted;
	// mergeWanted is whether a merge was then due; mergeSignal asks for
	// one; merging lets one merge run at a time; idle is whether the last
	// flush found nothing to write.
	unmerged                                    atomic.Int64
	flushActive, mergeActive, mergeWanted, idle atomic.Bool
	mergeSignal, merging                        chan struct{}
}

// Config is what a Tracker works with.
type Config struct {
	// Store is where uses are written and read.
	Store store.Store
	// Now reads the clock, in UTC. Its reading at NewTracker is when this
	// process began tracking; runs are named and merges timed by it.
	Now func() time.Time
	// Keys is the bucket that holds every key under its store key: a use
	// of a key it no longer holds is not written.
	Keys []byte
	// Limits are the sizes at which the tracker flushes early, writes runs
	// and merges them; tests lower them to follow a few keys through.
	Limits Limits
}

// usageFlushAt is how many keys with unwritten uses ask for an early
// flush: about 20 MB of them (some 80 bytes a key in the maps). A flush
// reads each key's record and last use, in key order; the more of a
// million keys one flush takes, the closer together they lie in the
// store, so a smaller set costs more per use written.
const usageFlushAt = 250_000

// NewTracker returns a Tracker with no use recorded.
func NewTracker(cfg Config) *Tracker {
	t := &Tracker{store: cfg.Store, now: cfg.Now, keyBucket: cfg.Keys, started: cfg.Now(),
		due: make(chan struct{}, 1), flushing: make(chan struct{}, 1),
		mergeSignal: make(chan struct{}, 1), merging: make(chan struct{}, 1)}
	l := cfg.Limits
	t.flushAt = int64(cmp.Or(l.FlushAt, usageFlushAt))
	t.runAt = cmp.Or(l.RunAt, usageRunAt)
	t.runMax = cmp.Or(l.RunMax, usageRunMax)
	t.mergeUses = cmp.Or(l.MergeUses, usageMergeUses)
	t.mergeRuns = cmp.Or(l.MergeRuns, usageMergeRuns)
	return t
}

// Limits are the sizes at which a Tracker asks for an early flush, writes
// runs and merges them. A zero field takes its default.
type Limits struct {
	FlushAt   int // keys with unwritten uses that ask for a flush (FlushDue)
	RunAt     int // a flush of fewer uses writes them in place
	RunMax    int // uses per run
	MergeUses int // runs holding this many uses are merged
	MergeRuns int // or this many runs
}

// Pending is how many keys have a use recorded in memory that no flush
// has written yet: what a crash would lose, and what the next flush will
// write.
func (t *Tracker) Pending() int64 { return t.queued.Load() }

// Held counts the keys with a use in memory one by one, where Pending
// keeps the count as uses come and go.
func (t *Tracker) Held() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.pending.uses)
		for k := range sh.inflight.uses {
			if !sh.pending.has(k) {
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n
}

// FlushDue signals when so many keys have uses not yet written that Flush
// should run before its interval.
func (t *Tracker) FlushDue() <-chan struct{} { return t.due }

// lockFlush waits for the flush running, if any, to end, or for ctx.
func (t *Tracker) lockFlush(ctx context.Context) error {
	select {
	case t.flushing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *Tracker) unlockFlush() { <-t.flushing }

func (t *Tracker) shard(k useKey) int {
	return int((uint32(k.id[0])|uint32(k.id[15])<<8)^k.part) % usageShards
}

// Record notes a use of the key stored under key at at, by operation op
// in request requestID, whose audit event is eventID, unless a later use
// of the key is held.
func (t *Tracker) Record(key string, at time.Time, op, requestID, eventID string) {
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
func (t *Tracker) peek(key string) (lastUse, bool) {
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

func (t *Tracker) lastUse(u use, texts [2]string) lastUse {
	l := lastUse{at: u.at, operation: t.ops.name(u.op), uuids: u.ids}
	if u.odd {
		l.texts = &texts
	}
	return l
}

// Forget drops from memory the uses of a key deleted from the store.
func (t *Tracker) Forget(key string) {
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
func (t *Tracker) take() []pendingUse {
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
func (t *Tracker) written(ps []pendingUse) {
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
func (t *Tracker) requeue(ps []pendingUse) {
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
