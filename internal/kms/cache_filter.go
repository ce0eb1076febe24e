package kms

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"
)

// keyFilter says of most keys the cache does not hold that it does not
// hold them, from a table small enough to stay in the processor's caches.
// Among a million keys read at random nearly every lookup misses, and a
// miss in the sync.Map walks trie nodes that are cold by then; the filter
// answers it from two bits instead.
//
// It is a Bloom filter: two bits a key, 16 bits for each entry the cache
// may hold. Bits are set before an entry is stored and never cleared, so
// every key the map holds tests present. A dropped entry leaves its bits
// behind (a lookup of it then walks the map, as every lookup did before),
// and once as many entries were dropped as the cache holds, the cache
// builds a new filter from the entries it holds.
type keyFilter struct {
	words []atomic.Uint64
	mask  uint64 // the number of bits, a power of two, less one
	seed  maphash.Seed
}

// filterBitsPerEntry gives at most one false "present" in 20 with as
// many stale keys as held ones, and one in 70 with none.
const filterBitsPerEntry = 16

func newKeyFilter(entries int, seed maphash.Seed) *keyFilter {
	want := uint64(min(max(entries, 64), 1<<27)) * filterBitsPerEntry
	n := uint64(1) << bits.Len64(want-1)
	return &keyFilter{words: make([]atomic.Uint64, n/64), mask: n - 1, seed: seed}
}

// bits returns k's two bit positions, from the two halves of one hash
// (the mask is at most 32 bits wide).
func (f *keyFilter) bits(k string) (a, b uint64) {
	h := maphash.String(f.seed, k)
	return h & f.mask, h >> 32 & f.mask
}

func (f *keyFilter) add(k string) {
	a, b := f.bits(k)
	f.words[a/64].Or(1 << (a % 64))
	f.words[b/64].Or(1 << (b % 64))
}

// mayHold is false only for a key never added.
func (f *keyFilter) mayHold(k string) bool {
	a, b := f.bits(k)
	return f.words[a/64].Load()&(1<<(a%64)) != 0 && f.words[b/64].Load()&(1<<(b%64)) != 0
}

// noteDropped counts an entry dropped from the map, and replaces the
// filter with one of the entries held once as many were dropped as are
// held; mu is held.
func (c *keyCache) noteDropped() {
	c.dropped++
	if c.dropped < max(len(c.ring)-len(c.free), 64) {
		return
	}
	f := newKeyFilter(c.max, c.seed)
	for _, e := range c.ring {
		if e != nil {
			f.add(e.key)
		}
	}
	c.filter.Store(f)
	c.dropped = 0
}
