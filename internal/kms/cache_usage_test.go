package kms

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/uuid"
)

func TestCompactIDRoundTrips(t *testing.T) {
	for _, s := range []string{uuid.New(), uuid.NewTimeOrdered(time.Now()), "", "req-1",
		"0123456789ABCDEF0123456789abcdef0123", "01234567-89AB-cdef-0123-456789abcdef", "01234567-89ab-cdef-0123-456789abcdeg"} {
		c := newCompactID(s)
		if got := c.String(); got != s {
			t.Errorf("%q came back as %q", s, got)
		}
	}
	if c := newCompactID(uuid.New()); !c.isUUID || c.text != "" {
		t.Errorf("a UUID is kept as %+v, want its bytes", c)
	}
}

func (t *usageTracker) len() int {
	n := 0
	for i := range t.shards {
		t.shards[i].mu.Lock()
		n += len(t.shards[i].dirty)
		t.shards[i].mu.Unlock()
	}
	return n
}

// TestFlushedUsesLeaveTheTracker: once its use is flushed a key's slot
// leaves the tracker, and GetKeyLastUsage reads the use from the store.
func TestFlushedUsesLeaveTheTracker(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	c := call()
	c.RequestID, c.EventID = uuid.New(), uuid.New()
	if _, err := trackedEncrypt(h.svc, ctx, c, &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	at := h.clock.Now()
	if n, err := h.svc.FlushLastUsage(ctx); err != nil || n != 1 {
		t.Fatalf("flush: %d, %v; want 1 use written", n, err)
	}
	if n := h.svc.usage.len(); n != 0 {
		t.Fatalf("%d usage slots kept after the flush", n)
	}
	u := h.lastUsage(call(), id).KeyLastUsage
	if u == nil || u.KmsRequestId != c.RequestID || u.CloudTrailEventId != c.EventID || !time.Time(*u.Timestamp).Equal(at) {
		t.Fatalf("last usage %+v after its slot left, want the flushed use at %v", u, at)
	}
	// The next use takes a slot again, through the cached key.
	h.clock.Add(time.Second)
	if _, err := trackedEncrypt(h.svc, ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if u := h.lastUsage(call(), id).KeyLastUsage; !time.Time(*u.Timestamp).Equal(h.clock.Now()) {
		t.Fatalf("last usage %+v, want the use after the flush", u)
	}
}

// TestWrittenSlotLetsGoOfItsUses: a cached key keeps its slot after the
// slot's use is written and it leaves the tracker; the slot then holds
// no use, so a million keys used once do not keep their uses in memory.
func TestWrittenSlotLetsGoOfItsUses(t *testing.T) {
	tr := newUsageTracker(time.Now())
	var held, older atomic.Pointer[usageSlot]
	now := time.Now()
	tr.record("p/written", &held, newLastUse(now, "Encrypt", uuid.New(), uuid.New()))
	tr.record("p/older", &older, newLastUse(now, "Encrypt", uuid.New(), uuid.New()))
	pending := tr.dirty()
	// An older use recorded while the flush writes: the next flush finds
	// nothing new in that slot, and it leaves there.
	tr.record("p/older", &older, newLastUse(now.Add(-time.Second), "Decrypt", uuid.New(), uuid.New()))
	tr.written(pending)
	if got := tr.dirty(); len(got) != 0 {
		t.Fatalf("dirty: %+v, want nothing new", got)
	}
	for name, h := range map[string]*atomic.Pointer[usageSlot]{"written": &held, "older": &older} {
		if s := h.Load(); s == nil || s.last.Load() != nil || s.flushed.Load() != nil {
			t.Errorf("%s: the held slot %+v still holds a use after leaving the tracker", name, s)
		}
	}
	if n := tr.len(); n != 0 {
		t.Fatalf("%d slots left in the tracker", n)
	}
	// The next use takes a new slot, which holds it.
	u := newLastUse(now.Add(time.Second), "Encrypt", uuid.New(), uuid.New())
	tr.record("p/written", &held, u)
	if got := tr.peek("p/written"); got != u {
		t.Fatalf("peek: %+v, want the new use", got)
	}
}

// TestLastUseIsSmall: every request that uses a key makes a lastUse, and
// up to usageFlushAt wait in memory, so it stays in the 64-byte size class.
func TestLastUseIsSmall(t *testing.T) {
	if n := unsafe.Sizeof(lastUse{}); n > 64 {
		t.Fatalf("lastUse takes %d bytes, want at most 64", n)
	}
}

// TestUseDuringFlushIsNotLost: a use recorded after a flush took its slot
// is written by the next flush, and is what GetKeyLastUsage reports
// meanwhile.
func TestUseDuringFlushIsNotLost(t *testing.T) {
	tr := newUsageTracker(time.Now())
	var held atomic.Pointer[usageSlot]
	const key = "111122223333/us-east-1/k"
	now := time.Now()
	first := newLastUse(now, "Encrypt", uuid.New(), uuid.New())
	tr.record(key, &held, first)
	pending := tr.dirty()
	if len(pending) != 1 || pending[0].use != first {
		t.Fatalf("dirty: %+v, want the one use", pending)
	}
	second := newLastUse(now.Add(time.Second), "Decrypt", uuid.New(), uuid.New())
	tr.record(key, &held, second) // while the first is being written
	tr.written(pending)
	if u := tr.peek(key); u != second {
		t.Fatalf("peek after the flush: %+v, want the second use", u)
	}
	again := tr.dirty()
	if len(again) != 1 || again[0].use != second {
		t.Fatalf("dirty after a use during the flush: %+v, want the second use", again)
	}
	if more := tr.dirty(); len(more) != 0 {
		t.Fatalf("dirty twice: %+v", more)
	}
	// A failed flush puts its uses back.
	tr.requeue(again)
	if more := tr.dirty(); len(more) != 1 {
		t.Fatalf("dirty after a requeue: %+v, want the second use", more)
	}
	tr.written(again)
	if n := tr.len(); n != 0 || tr.peek(key) != nil {
		t.Fatalf("%d slots after every use was written", n)
	}
	// A use through a slot that left the tracker takes a new one.
	third := newLastUse(now.Add(2*time.Second), "Encrypt", uuid.New(), uuid.New())
	tr.record(key, &held, third)
	if more := tr.dirty(); len(more) != 1 || more[0].use != third {
		t.Fatalf("dirty after a use through a flushed slot: %+v", more)
	}
}

// An older use recorded while a flush writes a later one leaves nothing
// to write: its key leaves the tracker, and the count of keys waiting
// (kmsd_key_last_usage_pending) comes back to zero.
func TestOlderUseDuringFlushLeavesNothingPending(t *testing.T) {
	tr := newUsageTracker(time.Now())
	var held atomic.Pointer[usageSlot]
	const key = "111122223333/us-east-1/k"
	now := time.Now()
	later := newLastUse(now.Add(time.Second), "Encrypt", uuid.New(), uuid.New())
	tr.record(key, &held, later)
	pending := tr.dirty()
	tr.record(key, &held, newLastUse(now, "Decrypt", uuid.New(), uuid.New())) // a request that began first
	tr.written(pending)
	if more := tr.dirty(); len(more) != 0 {
		t.Fatalf("dirty: %+v, want nothing: the later use is written", more)
	}
	if n, q := tr.len(), tr.queued.Load(); n != 0 || q != 0 {
		t.Fatalf("%d slots, %d counted as waiting, after every use was written", n, q)
	}
	if u := tr.peek(key); u != nil {
		t.Fatalf("peek: %+v, want none in memory", u)
	}
}

// Past flushAt keys with unwritten uses the tracker asks for a flush once,
// and the count follows the slots as flushes and deleted keys remove them.
func TestManyUnwrittenUsesAskForAFlush(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.svc.usage.flushAt = 3
	ids := []string{h.createKey(), h.createKey(), h.createKey(), h.createKey(), h.createKey()}
	use := func(id string) {
		t.Helper()
		if _, err := trackedEncrypt(h.svc, ctx, call(), &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	due := func() bool {
		select {
		case <-h.svc.LastUsageDue():
			return true
		default:
			return false
		}
	}
	use(ids[0])
	use(ids[1])
	use(ids[0]) // the same key again: still two
	if due() {
		t.Fatal("due with two keys pending, flushAt 3")
	}
	use(ids[2])
	use(ids[3])
	if !due() {
		t.Fatal("not due with four keys pending, flushAt 3")
	}
	if due() {
		t.Fatal("due twice for one crossing")
	}
	// A flush has taken the signal; a new key while the count is still
	// over the bound asks again, so the next flush follows at once.
	use(ids[4])
	if !due() {
		t.Fatal("not due for a new key with five pending, flushAt 3")
	}
	use(ids[4])
	if due() {
		t.Fatal("due again for a key already pending")
	}
	h.svc.usage.forget(partition("111122223333", "us-east-1") + ids[3])
	h.svc.usage.forget(partition("111122223333", "us-east-1") + ids[4])
	if n, want := h.svc.usage.queued.Load(), int64(h.svc.usage.len()); n != want || n != 3 {
		t.Fatalf("count %d with %d slots, want 3", n, want)
	}
	if _, err := h.svc.FlushLastUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if n := h.svc.usage.queued.Load(); n != 0 {
		t.Fatalf("count %d after the flush, want 0", n)
	}
	for _, id := range ids[:3] {
		use(id)
	}
	if !due() {
		t.Fatal("not due when three keys are pending again")
	}
}

// TestConcurrentUsesAndFlushesLoseNothing: uses recorded from several
// goroutines while flushes take, write, fail and put back slots all reach
// the store, each key's newest last, and leave nothing pending.
func TestConcurrentUsesAndFlushesLoseNothing(t *testing.T) {
	tr := newUsageTracker(time.Now())
	const keys, recorders, uses = 8, 4, 3000
	var held [keys]atomic.Pointer[usageSlot]
	var newest [keys]atomic.Int64
	var clock atomic.Int64
	stored := map[string]int64{}
	flush := func(fail bool) {
		ps := tr.dirty()
		if fail {
			tr.requeue(ps)
			return
		}
		for _, p := range ps {
			stored[p.key] = max(stored[p.key], p.use.at)
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
				if i%97 == 0 {
					held[k].Store(nil) // a new snapshot of the key, with no slot yet
				}
				tr.record(fmt.Sprint("p/", k), &held[k], newLastUse(time.Unix(0, at), "Encrypt", uuid.New(), uuid.New()))
			}
		})
	}
	wg.Wait()
	<-done
	flush(false)
	for k := range keys {
		if got, want := stored[fmt.Sprint("p/", k)], newest[k].Load(); got != want {
			t.Errorf("key %d: the store has the use at %d, want the newest, %d", k, got, want)
		}
	}
	if n, q := tr.len(), tr.queued.Load(); n != 0 || q != 0 {
		t.Errorf("%d slots (%d counted) left in the tracker after the last flush", n, q)
	}
}
