package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
	"sync/atomic"

	"github.com/kmsd/kmsd/internal/secret"
)

// maxCachedKeys bounds the signing-key cache. A signing key is valid for one
// day, region and service, so a busy server needs about one entry per active
// access key; when the bound is passed the cache is simply emptied.
const maxCachedKeys = 4096

// keyCache maps SHA-256(secret | date | region | service) to the derived
// signing key. The raw secret is never a map key. Lookups take no lock
// (sync.Map is read-optimised), and the count is an atomic.
type keyCache struct {
	m sync.Map // [32]byte -> *signingKey
	n atomic.Int64
}

// signingKey is a derived signing key with a pool of HMAC-SHA256 instances
// keyed with it. hmac's Reset returns an instance to its freshly keyed state,
// so an instance taken from the pool needs no key schedule; the pool hands
// each instance to one goroutine at a time.
type signingKey struct {
	key  [32]byte
	macs sync.Pool // hash.Hash
}

// mac returns an HMAC-SHA256 keyed with k, in its initial state. Give it back
// with release.
func (k *signingKey) mac() hash.Hash {
	if m, ok := k.macs.Get().(hash.Hash); ok {
		return m
	}
	return hmac.New(sha256.New, k.key[:])
}

// release resets m and returns it to the pool.
func (k *signingKey) release(m hash.Hash) {
	m.Reset()
	k.macs.Put(m)
}

// cacheKey hashes the inputs of the derivation with length prefixes, so no
// two distinct inputs share a key. The preimage, which holds the secret, is
// built on the stack for secrets of ordinary length and wiped afterwards.
func cacheKey(sec secret.Bytes, date, region, service string) [32]byte {
	var stack [256]byte
	b := stack[:0]
	b = binary.BigEndian.AppendUint64(b, uint64(len(sec)))
	b = append(b, sec...)
	for _, part := range [...]string{date, region, service} {
		b = binary.BigEndian.AppendUint64(b, uint64(len(part)))
		b = append(b, part...)
	}
	k := sha256.Sum256(b)
	clear(b)
	return k
}

// signingKey returns HMAC chain("AWS4"+secret, date, region, service,
// "aws4_request"), from the cache when it can.
func (c *keyCache) signingKey(sec secret.Bytes, date, region, service string) [32]byte {
	return c.entry(sec, date, region, service).key
}

// entry returns the cache entry for the signing key of sec in the given
// scope, deriving and storing it on a miss.
func (c *keyCache) entry(sec secret.Bytes, date, region, service string) *signingKey {
	ck := cacheKey(sec, date, region, service)
	if v, ok := c.m.Load(ck); ok {
		return v.(*signingKey)
	}
	k := &signingKey{key: deriveSigningKey(sec, date, region, service)}
	v, loaded := c.m.LoadOrStore(ck, k)
	if !loaded {
		if c.n.Add(1) > maxCachedKeys {
			// Empty the cache rather than track recency: derivation costs
			// four HMACs, and a full cache only happens under churn.
			c.m.Clear()
			c.n.Store(0)
		}
	}
	return v.(*signingKey)
}

// deriveSigningKey computes the SigV4 signing key. The "AWS4"+secret copy is
// wiped before returning.
func deriveSigningKey(sec secret.Bytes, date, region, service string) [32]byte {
	k := make(secret.Bytes, 0, 4+len(sec))
	k = append(k, "AWS4"...)
	k = append(k, sec...)
	defer k.Wipe()
	b := hmacSHA256(k, []byte(date))
	b = hmacSHA256(b, []byte(region))
	b = hmacSHA256(b, []byte(service))
	b = hmacSHA256(b, []byte(terminator))
	var out [32]byte
	copy(out[:], b)
	return out
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}
