package kms

import (
	"math/bits"
	"sync/atomic"
)

// keyFilter says of most keys the cache does not hold that it does not
// hold them, from a table small enough to stay in the processor's caches.
// Among a million keys read at random nearly every lookup misses, and a
// miss in the sync.Map walks trie nodes that are cold by then; the filter
// answers it from two bits instead.
//
// It is a Bloom filter: two bits a key, at least 16 bits for each entry
// the cache may hold. Bits are set before an entry is stored and never
// cleared, so every key the map holds tests present. A dropped entry
// leaves its bits behind (a lookup of it then walks the map, as every
// lookup did before), and once the filter has marked twice as many keys
// as the cache may hold, the cache builds a new one from the entries it
// holds.
type keyFilter struct {
	words []atomic.Uint64
	mask  uint64 // the number of bits, a power of two, less one
}

// filterBitsPerEntry gives at most one false "present" in 20 with as
// many keys marked as twice the entries the cache may hold, and one in
// 70 with as many as it may hold.
const filterBitsPerEntry = 16

func newKeyFilter(entries int) *keyFilter {
	want := uint64(min(max(entries, 64), 1<<27)) * filterBitsPerEntry
	n := uint64(1) << bits.Len64(want-1)
	return &keyFilter{words: make([]atomic.Uint64, n/64), mask: n - 1}
}

// bits returns the two bit positions of a key's hash (keyCache.hash),
// from its two halves (the mask is at most 32 bits wide).
func (f *keyFilter) bits(h uint64) (a, b uint64) {
	return h & f.mask, h >> 32 & f.mask
}

func (f *keyFilter) add(h uint64) {
	a, b := f.bits(h)
	f.words[a/64].Or(1 << (a % 64))
	f.words[b/64].Or(1 << (b % 64))
}

// mayHold is false only for a key whose hash was never added.
func (f *keyFilter) mayHold(h uint64) bool {
	a, b := f.bits(h)
	return f.words[a/64].Load()&(1<<(a%64)) != 0 && f.words[b/64].Load()&(1<<(b%64)) != 0
}

// mark adds the key of hash h to the filter, first replacing the filter with one of the
// entries held once it has marked twice as many keys as the cache holds
// at most, the held and the dropped; mu is held.
func (c *keyCache) mark(h uint64) {
	if c.marked++; c.marked > 2*max(c.max, 64) {
		f := newKeyFilter(c.max)
		c.marked = 1
		for _, e := range c.ring {
			if e != nil {
				f.add(c.hash(e.key))
				c.marked++
			}
		}
		c.filter.Store(f)
	}
	c.filter.Load().add(h)
}
