package kms

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/kmsd/kmsd/internal/uuid"
)

// TestKeyFilterNeverHidesAnEntry adds, evicts, invalidates and flushes
// entries, from several goroutines, and checks that every key the map
// holds, and every key a lookup finds, tests present in the filter, across
// the filter's rebuilds; and that keys never added mostly test absent.
func TestKeyFilterNeverHidesAnEntry(t *testing.T) {
	const size = 500
	c := newKeyCache(size)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range 20_000 {
				k := fmt.Sprint("k|", rng.IntN(3*size))
				if v, ok := c.get(k); ok && v.(string) != k {
					t.Errorf("key %s served %v", k, v)
					return
				}
				c.add(k, k, c.gen.Load())
				switch {
				case i%97 == 0:
					c.invalidate(fmt.Sprint("k|", rng.IntN(3*size)))
				case i%5003 == 0 && g == 0:
					c.flush()
				}
			}
		})
	}
	wg.Wait()
	if c.evictions.Load() < 2*size {
		t.Fatalf("%d evictions: the test did not add enough keys to rebuild the filter", c.evictions.Load())
	}
	f := c.filter.Load()
	if held := checkFilterHoldsTheCache(t, c, f); held == 0 {
		t.Fatal("the cache holds nothing")
	}
	present := 0
	for i := range 10_000 {
		if f.mayHold(c.hash(fmt.Sprint("never|", i))) {
			present++
		}
	}
	if present > 1000 {
		t.Errorf("%d of 10,000 keys never added test present, want at most one in ten", present)
	}
}

// checkFilterHoldsTheCache fails t for each key c's map holds that f
// tests absent, and returns how many keys the map holds.
func checkFilterHoldsTheCache(t *testing.T, c *keyCache, f *keyFilter) (held int) {
	t.Helper()
	c.m.Range(func(k, _ any) bool {
		held++
		if !f.mayHold(c.hash(k.(string))) {
			t.Errorf("the filter hides %q, which the cache holds", k)
		}
		return true
	})
	return held
}

// TestKeyCacheHitsThroughTheFilter: a key added is found, one never added
// is not, and both are counted.
func TestKeyCacheHitsThroughTheFilter(t *testing.T) {
	c := newKeyCache(10)
	c.add("k|a", "a", c.gen.Load())
	if v, ok := c.get("k|a"); !ok || v != "a" {
		t.Fatalf("get of a key added = %v, %v", v, ok)
	}
	if _, ok := c.get("k|b"); ok {
		t.Fatal("get of a key never added found it")
	}
	if h, m := c.hits.Load(), c.misses.Load(); h != 1 || m != 1 {
		t.Fatalf("hits %d, misses %d, want 1 and 1", h, m)
	}
}

// TestKeyFilterIsRebuilt: once the filter has marked twice as many keys
// as the cache may hold, a new one holds just the entries held, so keys
// evicted long ago test absent again.
func TestKeyFilterIsRebuilt(t *testing.T) {
	c := newKeyCache(64)
	first := c.filter.Load()
	for i := range 1000 {
		k := fmt.Sprint("k|", i)
		c.add(k, k, c.gen.Load())
		c.add(k, k, c.gen.Load()) // a full cache admits a key on its second miss
	}
	f := c.filter.Load()
	if f == first {
		t.Fatal("the filter was never rebuilt")
	}
	held := checkFilterHoldsTheCache(t, c, f)
	stale := 0
	for i := range 500 {
		if f.mayHold(c.hash(fmt.Sprint("k|", i))) {
			stale++
		}
	}
	if held != 64 || stale > 50 {
		t.Errorf("%d keys held, %d of the 500 first keys, long evicted, test present", held, stale)
	}
}

// BenchmarkKeyCacheMiss is a lookup of a key a full cache of 20,000 does
// not hold, among a million, the name made for each lookup as a request
// makes it.
func BenchmarkKeyCacheMiss(b *testing.B) {
	const size = 20_000
	c := newKeyCache(size)
	part := partition("111122223333", "us-east-1")
	ids := make([][16]byte, 1_000_000)
	for i := range ids {
		ids[i] = [16]byte{byte(i), byte(i >> 8), byte(i >> 16), 0x40, 0x80}
	}
	for i := range size {
		c.add(cacheKeyID("111122223333", "us-east-1", uuid.Format(ids[i*(len(ids)/size)])), "", c.gen.Load())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		c.get("k|" + part + uuid.Format(ids[rng.IntN(len(ids))]))
	}
}
