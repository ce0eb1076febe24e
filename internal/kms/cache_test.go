package kms

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
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
