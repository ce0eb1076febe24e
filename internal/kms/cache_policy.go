package kms

import (
	"hash/maphash"
	"maps"
	"runtime"
	"slices"
	"sync"
	"weak"

	"github.com/kmsd/kmsd/internal/policy"
)

// parsedPolicy is a key policy parsed and bound to its principals' unique
// ids: read-only once made, so every key whose record has the same policy
// text and bindings shares one (a million keys with the default policy of
// a few accounts hold a few parsed policies, not a million).
type parsedPolicy struct {
	text       string // the policy document, kept once for every key using it
	principals []boundPrincipal
	policy     *policy.Policy
	bound      *boundPolicy
}

// policyTable interns parsedPolicies by a hash of their text and bindings.
// The hash is maphash, not a cryptographic one: a hit is compared in full,
// and two that collide are each parsed on their own.
type policyTable struct {
	seed maphash.Seed
	t    weakTable[uint64, parsedPolicy]
}

// parse returns the shared parsedPolicy of text bound to principals.
func (t *policyTable) parse(text string, principals []boundPrincipal) *parsedPolicy {
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteString(text)
	for _, p := range principals {
		// Lengths first, so no two lists hash alike.
		maphash.WriteComparable(&h, len(p.ARN))
		maphash.WriteComparable(&h, len(p.ID))
		h.WriteString(p.ARN)
		h.WriteString(p.ID)
	}
	same := func(pp *parsedPolicy) bool {
		return pp.text == text && slices.Equal(pp.principals, principals)
	}
	return t.t.get(h.Sum64(), same, func() *parsedPolicy {
		pp := &parsedPolicy{text: text, principals: slices.Clip(principals)} // shared: an append copies
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

// condsTable interns sharedConds by a hash of their content that needs no
// sorting: the sum of each key's hash with its values. A hit is compared
// in full, and two that collide are each kept on their own.
type condsTable struct {
	seed maphash.Seed
	t    weakTable[uint64, sharedConds]
	// plain holds the conditions of plain keys by their spec, usage and
	// origin (plainKey), so that a cache miss on one, the common case,
	// builds no map and hashes none: plainKey -> *sharedConds. Its
	// entries are few (one per spec, usage and origin in use) and kept.
	plain sync.Map
}

// plainKey is what a plain key's own condition keys depend on.
type plainKey struct{ origin, spec, usage string }

// forKey returns the shared condition keys of r with the given aliases.
func (t *condsTable) forKey(r *keyRecord, aliases []string) *sharedConds {
	plain := len(aliases) == 0 && len(r.Tags) == 0 && !r.MultiRegion && r.AWSManagedAlias == ""
	if !plain {
		c := keyConditions(r)
		setResourceAliases(c, aliases)
		return t.intern(c)
	}
	pk := plainKey{r.Origin, r.KeySpec, r.KeyUsage}
	if sc, ok := t.plain.Load(pk); ok {
		return sc.(*sharedConds)
	}
	sc := t.intern(keyConditions(r))
	t.plain.Store(pk, sc)
	return sc
}

func (t *condsTable) intern(c policy.Context) *sharedConds {
	var sum uint64
	var h maphash.Hash
	h.SetSeed(t.seed)
	for k, vs := range c {
		h.Reset()
		h.WriteString(k)
		for _, v := range vs {
			h.WriteByte(0)
			h.WriteString(v)
		}
		sum += h.Sum64()
	}
	same := func(sc *sharedConds) bool {
		return maps.EqualFunc(sc.c, c, slices.Equal)
	}
	return t.t.get(sum, same, func() *sharedConds { return &sharedConds{c} })
}

// weakTable interns values by key, holding them weakly: a value no cached
// key uses any more is collected and its entry removed, so the table is
// bounded by the cache.
type weakTable[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]weak.Pointer[V]
}

// get returns the value interned under k if same accepts it, making it
// with build if there is none. A value under k that same refuses (a hash
// collision) keeps its place, and the one built is returned unshared.
func (t *weakTable[K, V]) get(k K, same func(*V) bool, build func() *V) *V {
	t.mu.Lock()
	if wp, ok := t.m[k]; ok {
		if v := wp.Value(); v != nil && same(v) {
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
			if same(other) {
				return other // made meanwhile by another miss
			}
			return v
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
