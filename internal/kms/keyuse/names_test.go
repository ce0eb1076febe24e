package keyuse

import (
	"reflect"
	"runtime"
	"testing"
	"time"
	"unsafe"

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

// TestUseKeyNamesEveryForm: a store key goes into the tracker and comes
// back the same, whatever the form of its key id, and ids that are not
// UUIDs come back as given.
func TestUseKeyNamesEveryForm(t *testing.T) {
	tr := newTracker()
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
		tr.Record(key, at, "Sign", "req-1", "EVENT")
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
	tr := newTracker()
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
		tr.Record(k, now, "Encrypt", uuid.New(), uuid.New())
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := int64(after.HeapObjects) - int64(before.HeapObjects); n > keys/50 {
		t.Errorf("%d keys' uses take %d heap objects", keys, n)
	}
	if n := tr.Held(); n != keys {
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
