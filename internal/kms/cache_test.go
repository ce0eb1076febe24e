package kms

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
)

// TestKeyCacheNeverServesAnInvalidatedValue races readers that miss, load
// a versioned record and add it, against a writer that commits a new
// version, invalidates, and reads at once: the writer must never be served
// a version older than its own write, however the readers interleave.
func TestKeyCacheNeverServesAnInvalidatedValue(t *testing.T) {
	c := newKeyCache(10000)
	var version atomic.Int64 // the store
	var commit sync.RWMutex  // a commit against a snapshot
	const k = "k"
	load := func() int64 {
		if v, ok := c.get(k); ok {
			return v.(int64)
		}
		gen := c.gen.Load()
		commit.RLock()
		v := version.Load()
		commit.RUnlock()
		c.add(k, v, gen)
		return v
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					load()
					runtime.Gosched()
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for range 5000 {
		commit.Lock()
		want := version.Add(1)
		commit.Unlock()
		c.invalidate(k)
		if got := load(); got < want {
			t.Fatalf("after writing version %d the cache served version %d", want, got)
		}
	}
}

// TestKeyCacheKeepsHotKeysWhenFull: a stream of cold keys, each missed
// twice (a full cache admits a key on its second miss), through a full
// cache evicts cold keys, one at a time, and keeps the keys in use; the
// cache never holds more than its size. (A cache wiped whole when full
// loses every hot key at once.)
func TestKeyCacheKeepsHotKeysWhenFull(t *testing.T) {
	const size, hot = 100, 10
	c := newKeyCache(size)
	for i := range hot {
		c.add(fmt.Sprint("hot", i), i, c.gen.Load())
	}
	for i := range 10 * size {
		k := fmt.Sprint("cold", i)
		c.add(k, i, c.gen.Load())
		if _, ok := c.peek(k); !ok { // refused: its next miss is admitted
			c.add(k, i, c.gen.Load())
		}
		for j := range hot {
			if _, ok := c.get(fmt.Sprint("hot", j)); !ok {
				t.Fatalf("hot key %d evicted after %d cold keys", j, i+1)
			}
		}
		if n := len(c.ring) - len(c.free); n > size {
			t.Fatalf("cache holds %d entries, over its size %d", n, size)
		}
	}
	if got, want := c.evictions.Load(), uint64(10*size+hot-size); got != want {
		t.Fatalf("%d evictions, want %d (one per add past the size)", got, want)
	}
	// Invalidated entries leave room without an eviction.
	c.invalidate("hot0", "hot1")
	before := c.evictions.Load()
	c.add("new0", 0, c.gen.Load())
	c.add("new1", 1, c.gen.Load())
	if c.evictions.Load() != before {
		t.Fatal("adding into invalidated slots evicted an entry")
	}
	c.invalidatePrefixes([]string{"new"})
	if _, ok := c.peek("new0"); ok {
		t.Fatal("prefix invalidation kept an entry")
	}
	c.flush()
	if _, ok := c.get("hot5"); ok || len(c.ring) != 0 {
		t.Fatal("flush kept entries")
	}
}

// TestFullCacheAdmitsOnASecondMiss: keys read once each, as by a sweep
// over every key, evict nothing from a full cache, and the keys it held
// stay; a key missed again soon after takes a place.
func TestFullCacheAdmitsOnASecondMiss(t *testing.T) {
	const size = 100
	c := newKeyCache(size)
	for i := range size {
		c.add(fmt.Sprint("held", i), i, c.gen.Load())
	}
	for i := range 50 * size {
		c.add(fmt.Sprint("once", i), i, c.gen.Load())
	}
	if n := c.evictions.Load(); n != 0 {
		t.Fatalf("keys read once evicted %d entries", n)
	}
	for i := range size {
		if _, ok := c.peek(fmt.Sprint("held", i)); !ok {
			t.Fatalf("held key %d evicted by keys read once", i)
		}
	}
	c.add("twice", 0, c.gen.Load())
	c.add("twice", 0, c.gen.Load())
	if _, ok := c.peek("twice"); !ok || c.evictions.Load() != 1 {
		t.Fatalf("a key missed twice: cached %v, %d evictions; want it cached in place of one", ok, c.evictions.Load())
	}
}

// TestKeysShareOneParsedPolicy: keys whose policies are the same text
// share one parsed policy; a key whose policy differs gets its own, and a
// key reloaded after its policy changed sees the new one.
func TestKeysShareOneParsedPolicy(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a, b := h.createKey(), h.createKey()
	ka, err := h.svc.key(ctx, "111122223333", "us-east-1", a)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := h.svc.key(ctx, "111122223333", "us-east-1", b)
	if err != nil {
		t.Fatal(err)
	}
	if ka.policy == nil || ka.policy != kb.policy {
		t.Fatalf("two keys with the default policy hold %p and %p, want one shared parsed policy", ka.policy, kb.policy)
	}
	if h.svc.cache.policies.t.len() != 1 {
		t.Fatalf("%d parsed policies for one policy text", h.svc.cache.policies.t.len())
	}
	if ka.conds == nil || ka.sharedConds != kb.sharedConds {
		t.Fatal("two keys with the same condition keys do not share them")
	}
	doc := strings.Replace(ka.rec.Policy, `"Sid"`, `"Sid" `, 1)
	if _, err := h.svc.PutKeyPolicy(ctx, call(), &kmsapi.PutKeyPolicyInput{KeyId: b, Policy: doc}); err != nil {
		t.Fatal(err)
	}
	kb2, err := h.svc.key(ctx, "111122223333", "us-east-1", b)
	if err != nil {
		t.Fatal(err)
	}
	if kb2.policy == ka.policy || kb2.rec.Policy != doc {
		t.Fatal("a key with another policy text shares the old parsed policy")
	}
}

// TestKeyCacheEvictsUnderConcurrentUse races hits, adds past the size and
// invalidations: the cache stays within its size, its ring and map agree,
// and a value served is always the one added under its key.
func TestKeyCacheEvictsUnderConcurrentUse(t *testing.T) {
	const size = 64
	c := newKeyCache(size)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				k := fmt.Sprint((i*7 + g) % 300)
				if v, ok := c.get(k); ok && v.(string) != k {
					t.Errorf("key %s served %v", k, v)
					return
				}
				c.add(k, k, c.gen.Load())
				if i%50 == 0 {
					c.invalidate(fmt.Sprint(i % 300))
				}
			}
		}()
	}
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	held := 0
	for slot, e := range c.ring {
		if e == nil {
			continue
		}
		held++
		if v, ok := c.m.Load(e.key); !ok || v.(*cacheEntry) != e || e.slot != slot {
			t.Fatalf("ring slot %d holds %q, which the map does not hold there", slot, e.key)
		}
	}
	n := 0
	c.m.Range(func(any, any) bool { n++; return true })
	if n != held || held > size || len(c.ring)-len(c.free) != held {
		t.Fatalf("map %d entries, ring %d (free %d of %d), size %d", n, held, len(c.free), len(c.ring), size)
	}
}
