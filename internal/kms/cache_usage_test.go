package kms

import (
	"context"
	"runtime"
	"testing"
	"time"

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

// TestUsageSlotsOfUncachedKeysAreFreed: once its use is flushed, the slot of
// a key that left the cache goes, and GetKeyLastUsage reads the use from
// the store.
func TestUsageSlotsOfUncachedKeysAreFreed(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	c := call()
	c.RequestID, c.EventID = uuid.New(), uuid.New()
	if _, err := trackedEncrypt(h.svc, ctx, c, &kmsapi.EncryptInput{KeyId: id, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	reqID := c.RequestID
	c = nil // the call holds the key it used
	at := h.clock.Now()
	if n, err := h.svc.FlushLastUsage(ctx); err != nil || n != 1 {
		t.Fatalf("flush: %d, %v; want 1 use written", n, err)
	}
	h.svc.FlushCache()
	for i := 0; h.svc.usage.slots.len() > 0; i++ {
		if i == 100 {
			t.Fatalf("%d usage slots kept after the flush and the cache's flush", h.svc.usage.slots.len())
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	out := h.lastUsage(call(), id)
	u := out.KeyLastUsage
	if u == nil || u.KmsRequestId != reqID || !time.Time(*u.Timestamp).Equal(at) {
		t.Fatalf("last usage %+v after its slot was freed, want the flushed use at %v", u, at)
	}
}

// TestUseDuringFlushIsNotLost: a use recorded after a flush took its slot
// is written by the next flush.
func TestUseDuringFlushIsNotLost(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey()
	k, err := h.svc.key(ctx, "111122223333", east, id)
	if err != nil {
		t.Fatal(err)
	}
	tr := h.svc.usage
	sl := k.usageSlot(tr)
	first := newLastUse(h.clock.Now(), "Encrypt", uuid.New(), uuid.New())
	tr.record(sl, first)
	pending := tr.dirty()
	if len(pending) != 1 || pending[0].use != first {
		t.Fatalf("dirty: %+v, want the one use", pending)
	}
	h.clock.Add(time.Second)
	second := newLastUse(h.clock.Now(), "Decrypt", uuid.New(), uuid.New())
	tr.record(sl, second) // while the first is being written
	sl.flushed.Store(first)
	if again := tr.dirty(); len(again) != 1 || again[0].use != second {
		t.Fatalf("dirty after a use during the flush: %+v, want the second use", again)
	}
	if again := tr.dirty(); len(again) != 0 {
		t.Fatalf("dirty twice: %+v", again)
	}
	// A failed flush puts its uses back.
	tr.requeue([]pendingUse{{key: sl.key, slot: sl, use: second}})
	if again := tr.dirty(); len(again) != 1 {
		t.Fatalf("dirty after a requeue: %+v, want the second use", again)
	}
	// A newer snapshot of the key records into the same slot.
	h.svc.FlushCache()
	k2, err := h.svc.key(ctx, "111122223333", east, id)
	if err != nil {
		t.Fatal(err)
	}
	if k2 == k || k2.usageSlot(tr) != sl {
		t.Fatal("a new snapshot of a key got another usage slot while the old one lives")
	}
	runtime.KeepAlive(k)
}
