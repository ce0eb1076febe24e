package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
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
	m sync.Map // [32]byte -> [32]byte
	n atomic.Int64
}

// cacheKey hashes the inputs of the derivation with length prefixes, so no
// two distinct inputs share a key.
func cacheKey(sec secret.Bytes, date, region, service string) [32]byte {
	h := sha256.New()
	var n [8]byte
	for _, part := range [][]byte{sec, []byte(date), []byte(region), []byte(service)} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// signingKey returns HMAC chain("AWS4"+secret, date, region, service,
// "aws4_request"), from the cache when it can.
func (c *keyCache) signingKey(sec secret.Bytes, date, region, service string) [32]byte {
	ck := cacheKey(sec, date, region, service)
	if v, ok := c.m.Load(ck); ok {
		return v.([32]byte)
	}
	key := deriveSigningKey(sec, date, region, service)
	if _, loaded := c.m.LoadOrStore(ck, key); !loaded {
		if c.n.Add(1) > maxCachedKeys {
			// Empty the cache rather than track recency: derivation costs
			// four HMACs, and a full cache only happens under churn.
			c.m.Clear()
			c.n.Store(0)
		}
	}
	return key
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
