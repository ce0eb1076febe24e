package kms

import (
	"crypto/sha256"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"weak"

	"github.com/kmsd/kmsd/internal/policy"
)

// parsedPolicy is a key policy parsed and bound to its principals' unique
// ids: read-only once made, so every key whose record has the same policy
// text and bindings shares one (a million keys with the default policy of
// a few accounts hold a few parsed policies, not a million).
type parsedPolicy struct {
	text   string // the policy document, kept once for every key using it
	policy *policy.Policy
	bound  *boundPolicy
}

// policyTable interns parsedPolicies by the hash of their text and
// bindings.
type policyTable struct {
	t weakTable[[sha256.Size]byte, parsedPolicy]
}

// parse returns the shared parsedPolicy of text bound to principals.
func (t *policyTable) parse(text string, principals []boundPrincipal) *parsedPolicy {
	h := sha256.New()
	h.Write([]byte(text))
	for _, p := range principals {
		// Lengths first, so no two lists hash alike.
		h.Write([]byte{0, byte(len(p.ARN) >> 8), byte(len(p.ARN)), byte(len(p.ID) >> 8), byte(len(p.ID))})
		h.Write([]byte(p.ARN))
		h.Write([]byte(p.ID))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return t.t.get(sum, func() *parsedPolicy {
		pp := &parsedPolicy{text: text}
		// Policies are validated when put. One put under older rules (a
		// condition key kmsd did not know then) is evaluated as it was when
		// it was put, rather than locking everyone out of the key,
		// PutKeyPolicy included; one that does not parse at all is kept as
		// nil, which allows no one.
		var err error
		if pp.policy, err = policy.ParseKeyPolicy(text); err != nil {
			pp.policy, _ = policy.Parse(text)
		}
		pp.bound = newBoundPolicy(pp.policy, principals)
		return pp
	})
}

// sharedConds is a key's own condition keys, read-only once made and shared
// by every cached key with the same ones (most keys of a spec and origin
// without tags or aliases).
type sharedConds struct{ c policy.Context }

// condsTable interns sharedConds by their content.
type condsTable struct {
	t weakTable[string, sharedConds]
}

func (t *condsTable) intern(c policy.Context) *sharedConds {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(c)) {
		b.WriteString(k)
		for _, v := range c[k] {
			b.WriteByte(0)
			b.WriteString(v)
		}
		b.WriteByte(1)
	}
	return t.t.get(b.String(), func() *sharedConds { return &sharedConds{c} })
}

// weakTable interns values by key, holding them weakly: a value no cached
// key uses any more is collected and its entry removed, so the table is
// bounded by the cache.
type weakTable[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]weak.Pointer[V]
}

// get returns the value interned under k, making it with build if there is
// none.
func (t *weakTable[K, V]) get(k K, build func() *V) *V {
	t.mu.Lock()
	if wp, ok := t.m[k]; ok {
		if v := wp.Value(); v != nil {
			t.mu.Unlock()
			return v
		}
	}
	t.mu.Unlock()

	v := build()
	t.mu.Lock()
	defer t.mu.Unlock()
	if wp, ok := t.m[k]; ok {
		if other := wp.Value(); other != nil {
			return other // made meanwhile by another miss
		}
	}
	if t.m == nil {
		t.m = map[K]weak.Pointer[V]{}
	}
	wp := weak.Make(v)
	t.m[k] = wp
	runtime.AddCleanup(v, t.forget, weakRef[K, V]{k, wp})
	return v
}

// weakRef names a table entry and the value it was made for.
type weakRef[K comparable, V any] struct {
	k  K
	wp weak.Pointer[V]
}

// forget removes a collected value's entry, unless it was replaced.
func (t *weakTable[K, V]) forget(r weakRef[K, V]) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[r.k] == r.wp {
		delete(t.m, r.k)
	}
}

// len is how many values the table holds.
func (t *weakTable[K, V]) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
