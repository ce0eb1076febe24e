package kms

import (
	"context"
	"math/rand/v2"
	"reflect"
	"runtime"
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

// len is how many keys have a use in memory.
func (t *usageTracker) len() int {
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

// testKey is a store key of kmsd's form.
func testKey() string { return partition("111122223333", "us-east-1") + uuid.New() }

func (t *usageTracker) recordAt(key string, at time.Time, op string) (requestID string) {
	requestID = uuid.New()
	t.record(key, at, op, requestID, uuid.New())
	return requestID
}

func (t *usageTracker) peekAt(key string) int64 {
	u, ok := t.peek(key)
	if !ok {
		return 0
	}
	return u.at
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

// TestUseKeyNamesEveryForm: a store key goes into the tracker and comes
// back the same, whatever the form of its key id, and ids that are not
// UUIDs come back as given.
func TestUseKeyNamesEveryForm(t *testing.T) {
	tr := newUsageTracker(time.Now())
	p := partition("111122223333", "eu-west-1")
	for _, key := range []string{
		p + uuid.New(),
		p + "mrk-0123456789abcdef0123456789abcdef",
		p + "mrk-0123456789ABCDEF0123456789abcdef",
		p + "01234567-89AB-cdef-0123-456789abcdef",
		p + "01234567-89AB-CDEF-0123-456789ABCDEF",
		p + "alias/short",
		"no-partition",
		"",
	} {
		k := tr.keys.useKeyOf(key)
		if got := string(tr.keys.appendStoreKey(nil, k)); got != key {
			t.Errorf("%q came back as %q", key, got)
		}
		at := time.Unix(1700000000, 5)
		tr.record(key, at, "Sign", "req-1", "EVENT")
		u, ok := tr.peek(key)
		if !ok || u.at != at.UnixNano() || u.operation != "Sign" || u.requestID().String() != "req-1" || u.eventID().String() != "EVENT" {
			t.Errorf("%q: peek %+v, %v", key, u, ok)
		}
	}
	if k := tr.keys.useKeyOf(p + uuid.New()); k.kind != kindUUID {
		t.Errorf("a UUID key id is held as kind %d", k.kind)
	}
	for id, kind := range map[string]uint8{
		"mrk-0123456789abcdef0123456789abcdef": kindMRK,
		"01234567-89AB-cdef-0123-456789abcdef": kindUUID, // uuid.Valid accepts either case
		"mrk-0123456789ABCDEF0123456789abcdef": kindWhole,
		"0123456789abcdef0123456789abcdef0123": kindWhole,
		"01234567-89ab-cdef-0123-456789abcdeg": kindWhole,
	} {
		if k := tr.keys.useKeyOf(p + id); k.kind != kind {
			t.Errorf("%s is held as kind %d, want %d", id, k.kind, kind)
		}
	}
}

// TestTrackerHoldsNoPointers: what the tracker holds for each key has no
// pointer, so its maps are not scanned by the collector, and its uses are
// not heap objects of their own: with a million keys used at random,
// hundreds of thousands wait for the next flush.
func TestTrackerHoldsNoPointers(t *testing.T) {
	for _, v := range []any{use{}, useKey{}} {
		if typ := reflect.TypeOf(v); hasPointers(typ) {
			t.Errorf("%v holds a pointer", typ)
		}
	}
	if n := unsafe.Sizeof(use{}); n > 48 {
		t.Errorf("use takes %d bytes, want at most 48", n)
	}
	if n := unsafe.Sizeof(useKey{}); n > 28 {
		t.Errorf("useKey takes %d bytes, want at most 28", n)
	}
	tr := newUsageTracker(time.Now())
	const keys = 50_000
	names := make([]string, keys)
	for i := range names {
		names[i] = testKey()
	}
	now := time.Now()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, k := range names {
		tr.record(k, now, "Encrypt", uuid.New(), uuid.New())
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := int64(after.HeapObjects) - int64(before.HeapObjects); n > keys/50 {
		t.Errorf("%d keys' uses take %d heap objects", keys, n)
	}
	if n := tr.len(); n != keys {
		t.Fatalf("%d keys held, want %d", n, keys)
	}
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true
	case reflect.Array:
		return hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}

// TestUseDuringFlushIsNotLost: a use recorded after a flush took the
// key's use is written by the next flush, and is what GetKeyLastUsage
// reports meanwhile.
func TestUseDuringFlushIsNotLost(t *testing.T) {
	tr := newUsageTracker(time.Now())
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
	if n, q := tr.len(), tr.queued.Load(); n != 0 || q != 0 || tr.peekAt(key) != 0 {
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
	tr := newUsageTracker(time.Now())
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
	tr := newUsageTracker(time.Now())
	key := testKey()
	now := time.Now()
	tr.recordAt(key, now.Add(time.Second), "Encrypt")
	pending := tr.take()
	tr.recordAt(key, now, "Decrypt") // a request that began first
	tr.written(pending)
	if more := tr.take(); len(more) != 0 {
		t.Fatalf("take: %+v, want nothing: the later use is written", more)
	}
	if n, q := tr.len(), tr.queued.Load(); n != 0 || q != 0 {
		t.Fatalf("%d keys, %d counted as waiting, after every use was written", n, q)
	}
	if _, ok := tr.peek(key); ok {
		t.Fatal("peek: a use in memory, want none")
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
// goroutines while flushes take, write, fail and put back uses all reach
// the store, each key's newest last, and leave nothing pending.
func TestConcurrentUsesAndFlushesLoseNothing(t *testing.T) {
	tr := newUsageTracker(time.Now())
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
	if n, q := tr.len(), tr.queued.Load(); n != 0 || q != 0 {
		t.Errorf("%d keys (%d counted) left in the tracker after the last flush", n, q)
	}
}

// BenchmarkRecordUse is what every tracked request adds: recording its
// use among many keys.
func BenchmarkRecordUse(b *testing.B) {
	tr := newUsageTracker(time.Now())
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = testKey()
	}
	requestID, eventID, now := uuid.New(), uuid.New(), time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.record(keys[i%len(keys)], now, "Encrypt", requestID, eventID)
		i++
	}
}

// BenchmarkRecordUseAmongMany records uses of random keys among a million,
// with a flush taking them every usageFlushAt uses, as a server under
// random-key load does: the tracker's maps fill again after each flush.
func BenchmarkRecordUseAmongMany(b *testing.B) {
	tr := newUsageTracker(time.Now())
	// The keys' ids, and their names made for each use, as a request makes
	// its key's: the names of a million keys held apart would be read cold.
	ids := make([]compactID, 1_000_000)
	for i := range ids {
		ids[i] = newCompactID(uuid.New())
	}
	part := partition("111122223333", "us-east-1")
	requestID, eventID, now := uuid.New(), uuid.New(), time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.record(part+ids[rng.IntN(len(ids))].String(), now, "Encrypt", requestID, eventID)
		if i++; i%usageFlushAt == 0 {
			tr.written(tr.take())
		}
	}
}

// TestFlushLeavesNoEmptiedMaps: once a flush's uses are written, the
// inflight sets hold no table, so a use recorded next looks its key up in
// no cold memory; the pending sets are sized for as many keys as the last
// flush took, and let go of when the next flush finds them empty.
func TestFlushLeavesNoEmptiedMaps(t *testing.T) {
	tr := newUsageTracker(time.Now())
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
