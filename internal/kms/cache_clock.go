package kms

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
)

// keyCache keeps hot keys and alias targets in memory so the crypto path
// touches no disk and takes no global lock: get is a sync.Map load and, on
// the first hit since the clock hand last passed, one atomic store.
//
// It holds at most max entries and evicts with CLOCK (second chance): a
// hit marks its entry referenced; when an add finds the cache full, the
// hand sweeps the ring, clearing marks, and evicts the first unmarked
// entry. Hot keys stay; a scan over many cold keys replaces only the
// coldest. (The cache used to be wiped whole when full, so at scale every
// key missed again at once.)
//
// A full cache admits a key only on its second miss in a while: the
// first leaves its hash in the doorkeeper, a direct-mapped table of the
// hashes of keys recently refused. So a key read once, among a million
// read at random or by a sweep over every key, evicts nothing: the cache
// keeps its hot keys, and is spared the work and garbage of replacing
// an entry on each miss.
//
// Entries are invalidated after every committed write. A reader that
// missed loads the record and adds it with the generation it saw before
// loading; add and invalidate take mu, so an entry loaded before a write's
// commit is never stored after that write's invalidation, not even for a
// moment. Misses and writes are rare, so mu is off the hot path.
type keyCache struct {
	m   sync.Map // string -> *cacheEntry
	gen atomic.Uint64

	mu   sync.Mutex    // orders add against invalidate; guards ring, free, hand, door
	ring []*cacheEntry // the clock; nil slots are listed in free
	free []int
	hand int
	max  int
	door []uint64 // hashes of keys refused when the cache was full; 0 is empty
	seed maphash.Seed

	// filter answers most misses without the map (cache_filter.go);
	// marked counts the keys it marked since it was built (mu).
	filter atomic.Pointer[keyFilter]
	marked int

	hits, misses, evictions atomic.Uint64 // for metrics

	// policies and conds share parsed key policies and keys' condition
	// keys among the cached keys.
	policies policyTable
	conds    condsTable

	// fresh, when set, must report true for entries to be served or
	// added (clustercache.go); set before the cache is used.
	fresh func() bool
}

// cacheEntry is one cached value and its place on the clock.
type cacheEntry struct {
	key  string
	v    any // *cachedKey or string (alias target key id)
	ref  atomic.Bool
	slot int
}

func newKeyCache(max int) *keyCache {
	c := &keyCache{max: max, ring: make([]*cacheEntry, 0, min(max, 1<<16)), door: make([]uint64, max), seed: maphash.MakeSeed()}
	c.policies.seed, c.conds.seed = maphash.MakeSeed(), maphash.MakeSeed()
	c.filter.Store(newKeyFilter(max))
	return c
}

// hash is k's hash for the filter and the doorkeeper.
func (c *keyCache) hash(k string) uint64 { return maphash.String(c.seed, k) }

func (c *keyCache) get(k string) (any, bool) {
	if c.fresh != nil && !c.fresh() {
		c.misses.Add(1)
		return nil, false
	}
	if !c.filter.Load().mayHold(c.hash(k)) {
		c.misses.Add(1)
		return nil, false
	}
	v, ok := c.m.Load(k)
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	e := v.(*cacheEntry)
	if !e.ref.Load() { // read first: a hot entry's line stays shared
		e.ref.Store(true)
	}
	return e.v, true
}

// peek returns the value cached under k without counting or marking it.
func (c *keyCache) peek(k string) (any, bool) {
	v, ok := c.m.Load(k)
	if !ok {
		return nil, false
	}
	return v.(*cacheEntry).v, true
}

// CacheStats counts the lookups of keys and aliases in the in-memory
// cache that found their entry (hits) and those that read the store.
func (s *Service) CacheStats() (hits, misses uint64) {
	return s.cache.hits.Load(), s.cache.misses.Load()
}

// CacheEvictions counts entries the key cache evicted to stay within its
// size.
func (s *Service) CacheEvictions() uint64 { return s.cache.evictions.Load() }

// CacheLen is how many keys and aliases the key cache holds.
func (s *Service) CacheLen() int {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return len(s.cache.ring) - len(s.cache.free)
}

// add stores v unless a write invalidated anything since gen was read.
func (c *keyCache) add(k string, v any, gen uint64) {
	c.addEntry(&cacheEntry{key: k, v: v}, gen)
}

// addEntry is add of an entry the caller made, e.key and e.v set; e is
// the cache's from then on.
func (c *keyCache) addEntry(e *cacheEntry, gen uint64) {
	k := e.key
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen || (c.fresh != nil && !c.fresh()) {
		return
	}
	// The filter spares most keys a full cache refuses a walk of the map.
	h := c.hash(k)
	if c.filter.Load().mayHold(h) {
		if old, ok := c.m.Load(k); ok {
			// Same generation, so the same record: keep the first.
			old.(*cacheEntry).ref.Store(true)
			return
		}
	}
	if len(c.free) == 0 && len(c.ring) >= c.max && !c.admit(h) {
		return
	}
	e.slot = c.slot()
	c.ring[e.slot] = e
	c.mark(h) // before the map has it: see keyFilter
	c.m.Store(k, e)
}

// admit reports whether the key of hash (keyCache.hash), missed while the
// cache is full, may evict an entry: whether it was refused recently. mu
// is held.
func (c *keyCache) admit(hash uint64) bool {
	if len(c.door) == 0 {
		return true
	}
	h := hash | 1
	d := &c.door[h%uint64(len(c.door))]
	if *d == h {
		*d = 0
		return true
	}
	*d = h
	return false
}

// slot returns a free place on the ring, evicting if the cache is full.
func (c *keyCache) slot() int {
	if n := len(c.free); n > 0 {
		s := c.free[n-1]
		c.free = c.free[:n-1]
		return s
	}
	if len(c.ring) < c.max {
		c.ring = append(c.ring, nil)
		return len(c.ring) - 1
	}
	// Every entry is marked at most once per sweep, so two turns of the
	// hand always find one to evict.
	for {
		c.hand = (c.hand + 1) % len(c.ring)
		e := c.ring[c.hand]
		if e.ref.Load() {
			e.ref.Store(false)
			continue
		}
		c.m.Delete(e.key)
		c.ring[c.hand] = nil
		c.evictions.Add(1)
		return c.hand
	}
}

// drop removes e; mu is held.
func (c *keyCache) drop(e *cacheEntry) {
	if c.m.CompareAndDelete(e.key, e) {
		c.ring[e.slot] = nil
		c.free = append(c.free, e.slot)
	}
}

func (c *keyCache) invalidate(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	for _, k := range keys {
		if v, ok := c.m.Load(k); ok {
			c.drop(v.(*cacheEntry))
		}
	}
}

// invalidatePrefixes drops every entry whose key starts with one of
// prefixes.
func (c *keyCache) invalidatePrefixes(prefixes []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	for _, e := range c.ring {
		if e == nil {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(e.key, p) {
				c.drop(e)
				break
			}
		}
	}
}

// flush drops every entry.
func (c *keyCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	c.m.Clear()
	clear(c.ring)
	c.ring, c.free, c.hand = c.ring[:0], c.free[:0], 0
	c.filter.Store(newKeyFilter(c.max))
	c.marked = 0
}
