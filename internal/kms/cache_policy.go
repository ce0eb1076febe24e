package kms

import (
	"crypto/sha256"
	"runtime"
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
// bindings. It holds them weakly: a policy no cached key uses any more is
// collected, and its entry removed, so the table is bounded by the cache.
type policyTable struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]weak.Pointer[parsedPolicy]
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

	t.mu.Lock()
	if wp, ok := t.m[sum]; ok {
		if pp := wp.Value(); pp != nil {
			t.mu.Unlock()
			return pp
		}
	}
	t.mu.Unlock()

	pp := &parsedPolicy{text: text}
	// Policies are validated when put. One put under older rules (a
	// condition key kmsd did not know then) is evaluated as it was when it
	// was put, rather than locking everyone out of the key, PutKeyPolicy
	// included; one that does not parse at all is kept as nil, which allows
	// no one.
	var err error
	if pp.policy, err = policy.ParseKeyPolicy(text); err != nil {
		pp.policy, _ = policy.Parse(text)
	}
	pp.bound = newBoundPolicy(pp.policy, principals)

	t.mu.Lock()
	defer t.mu.Unlock()
	if wp, ok := t.m[sum]; ok {
		if other := wp.Value(); other != nil {
			return other // parsed meanwhile by another miss
		}
	}
	if t.m == nil {
		t.m = make(map[[sha256.Size]byte]weak.Pointer[parsedPolicy])
	}
	wp := weak.Make(pp)
	t.m[sum] = wp
	runtime.AddCleanup(pp, t.forget, policyRef{sum, wp})
	return pp
}

// policyRef names a table entry and the value it was made for.
type policyRef struct {
	sum [sha256.Size]byte
	wp  weak.Pointer[parsedPolicy]
}

// forget removes a collected policy's entry, unless it was replaced.
func (t *policyTable) forget(r policyRef) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[r.sum] == r.wp {
		delete(t.m, r.sum)
	}
}

// len is how many parsed policies the table holds.
func (t *policyTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
