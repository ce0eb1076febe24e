package keyuse

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/uuid"
)

// newTracker is a Tracker with no store, for what it holds in memory.
func newTracker() *Tracker { return NewTracker(Config{Now: time.Now}) }

// partition is the start of the store keys of an account's keys in a
// Region.
func partition(account, region string) string { return account + "/" + region + "/" }

// testKey is a store key of kmsd's form.
func testKey() string { return partition("111122223333", "us-east-1") + uuid.New() }

func (t *Tracker) recordAt(key string, at time.Time, op string) (requestID string) {
	requestID = uuid.New()
	t.Record(key, at, op, requestID, uuid.New())
	return requestID
}

func (t *Tracker) peekAt(key string) int64 {
	u, ok := t.peek(key)
	if !ok {
		return 0
	}
	return u.at
}

// TestUseDuringFlushIsNotLost: a use recorded after a flush took the
// key's use is written by the next flush, and is what GetKeyLastUsage
// reports meanwhile.
func TestUseDuringFlushIsNotLost(t *testing.T) {
	tr := newTracker()
	key := testKey()
	now := time.Now()
	tr.recordAt(key, now, "Encrypt")
	pending := tr.take()
	if len(pending) != 1 || string(pending[0].key) != key || pending[0].use.at != now.UnixNano() {
		t.Fatalf("take: %+v, want the one use", pending)
	}
	if got := tr.peekAt(key); got != now.UnixNano() {
		t.Fatalf("peek while the flush writes: %d, want the use being written", got)
	}
	second := now.Add(time.Second)
	tr.recordAt(key, second, "Decrypt") // while the first is being written
	tr.written(pending)
	if got := tr.peekAt(key); got != second.UnixNano() {
		t.Fatalf("peek after the flush: %d, want the second use", got)
	}
	again := tr.take()
	if len(again) != 1 || again[0].use.at != second.UnixNano() || again[0].use.operation != "Decrypt" {
		t.Fatalf("take after a use during the flush: %+v, want the second use", again)
	}
	// A failed flush puts its uses back.
	tr.requeue(again)
	if more := tr.take(); len(more) != 1 || more[0].use.at != second.UnixNano() {
		t.Fatalf("take after a requeue: %+v, want the second use", more)
	}
	tr.written(again)
	if n, q := tr.Held(), tr.queued.Load(); n != 0 || q != 0 || tr.peekAt(key) != 0 {
		t.Fatalf("%d keys (%d counted) after every use was written", n, q)
	}
	third := now.Add(2 * time.Second)
	tr.recordAt(key, third, "Encrypt")
	if more := tr.take(); len(more) != 1 || more[0].use.at != third.UnixNano() {
		t.Fatalf("take after a use of a written key: %+v", more)
	}
}

// A requeued use gives way to a later one recorded during the failed
// flush, and an older one recorded then is dropped.
func TestRequeueKeepsTheNewerUse(t *testing.T) {
	tr := newTracker()
	later, older := testKey(), testKey()
	now := time.Now()
	tr.recordAt(later, now, "Encrypt")
	tr.recordAt(older, now, "Encrypt")
	pending := tr.take()
	tr.recordAt(later, now.Add(time.Second), "Decrypt")
	tr.recordAt(older, now.Add(-time.Second), "Decrypt")
	tr.requeue(pending)
	got := map[string]pendingUse{}
	for _, p := range tr.take() {
		got[string(p.key)] = p
	}
	if p := got[later]; p.use.operation != "Decrypt" {
		t.Errorf("requeue replaced the later use: %+v", p)
	}
	if p := got[older]; p.use.operation != "Encrypt" {
		t.Errorf("requeue kept an older use: %+v", p)
	}
	if q := tr.queued.Load(); q != 2 {
		t.Errorf("%d keys counted, want 2", q)
	}
}

// An older use recorded while a flush writes a later one leaves nothing
// to write, and the count of keys waiting (kmsd_key_last_usage_pending)
// comes back to zero.
func TestOlderUseDuringFlushLeavesNothingPending(t *testing.T) {
	tr := newTracker()
	key := testKey()
	now := time.Now()
	tr.recordAt(key, now.Add(time.Second), "Encrypt")
	pending := tr.take()
	tr.recordAt(key, now, "Decrypt") // a request that began first
	tr.written(pending)
	if more := tr.take(); len(more) != 0 {
		t.Fatalf("take: %+v, want nothing: the later use is written", more)
	}
	if n, q := tr.Held(), tr.queued.Load(); n != 0 || q != 0 {
		t.Fatalf("%d keys, %d counted as waiting, after every use was written", n, q)
	}
	if _, ok := tr.peek(key); ok {
		t.Fatal("peek: a use in memory, want none")
	}
}

// TestConcurrentUsesAndFlushesLoseNothing: uses recorded from several
// goroutines while flushes take, write, fail and put back uses all reach
// the store, each key's newest last, and leave nothing pending.
func TestConcurrentUsesAndFlushesLoseNothing(t *testing.T) {
	tr := newTracker()
	const keys, recorders, uses = 8, 4, 3000
	var names [keys]string
	for k := range names {
		names[k] = testKey()
	}
	var newest [keys]atomic.Int64
	var clock atomic.Int64
	stored := map[string]int64{}
	flush := func(fail bool) {
		if err := tr.lockFlush(t.Context()); err != nil {
			t.Error(err)
			return
		}
		defer tr.unlockFlush()
		ps := tr.take()
		if fail {
			tr.requeue(ps)
			return
		}
		for _, p := range ps {
			stored[string(p.key)] = max(stored[string(p.key)], p.use.at)
		}
		tr.written(ps)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-tr.due:
			default:
			}
			if clock.Load() >= recorders*uses {
				return
			}
			flush(i%5 == 4)
		}
	}()
	var wg sync.WaitGroup
	for r := range recorders {
		wg.Go(func() {
			for i := range uses {
				k := (r + i) % keys
				at := clock.Add(1)
				for cur := newest[k].Load(); at > cur && !newest[k].CompareAndSwap(cur, at); cur = newest[k].Load() {
				}
				tr.recordAt(names[k], time.Unix(0, at), "Encrypt")
			}
		})
	}
	wg.Wait()
	<-done
	flush(false)
	for k := range keys {
		if got, want := stored[names[k]], newest[k].Load(); got != want {
			t.Errorf("key %d: the store has the use at %d, want the newest, %d", k, got, want)
		}
	}
	if n, q := tr.Held(), tr.queued.Load(); n != 0 || q != 0 {
		t.Errorf("%d keys (%d counted) left in the tracker after the last flush", n, q)
	}
}

// TestFlushLeavesNoEmptiedMaps: once a flush's uses are written, the
// inflight sets hold no table, so a use recorded next looks its key up in
// no cold memory; the pending sets are sized for as many keys as the last
// flush took, and let go of when the next flush finds them empty.
func TestFlushLeavesNoEmptiedMaps(t *testing.T) {
	tr := newTracker()
	for range 5000 {
		tr.recordAt(testKey(), time.Now(), "Encrypt")
	}
	taken := tr.take()
	if len(taken) != 5000 {
		t.Fatalf("took %d uses, want 5000", len(taken))
	}
	tr.written(taken[:len(taken)-1])
	held := 0
	for i := range tr.shards {
		if tr.shards[i].inflight.uses != nil {
			held++
		}
	}
	if held != 1 {
		t.Errorf("%d shards hold an inflight table with one use left unwritten, want 1", held)
	}
	tr.written(taken[len(taken)-1:])
	for i := range tr.shards {
		if sh := &tr.shards[i]; sh.inflight.uses != nil || sh.pending.uses == nil {
			t.Fatalf("shard %d after the flush: inflight table %v, pending table %v; want none, and one made for the next flush",
				i, sh.inflight.uses != nil, sh.pending.uses != nil)
		}
	}
	if n := tr.queued.Load(); n != 0 {
		t.Errorf("%d uses counted after the flush, want 0", n)
	}
	// A flush after an idle interval takes the tables sized for it, empty,
	// and keeps none of them.
	if taken := tr.take(); len(taken) != 0 {
		t.Fatalf("an idle flush took %d uses", len(taken))
	}
	for i := range tr.shards {
		if sh := &tr.shards[i]; sh.inflight.uses != nil || sh.pending.uses != nil {
			t.Fatalf("shard %d after an idle flush: inflight table %v, pending table %v; want neither",
				i, sh.inflight.uses != nil, sh.pending.uses != nil)
		}
	}
}
