package kms

import (
	"bytes"
	"strings"
)

// What the cluster layer needs to keep the key cache coherent across kmsd
// nodes sharing one store: which entries a write of a record makes stale
// (computed in the writing transaction and sent to every node), a way to
// drop them, and a gate that stops the cache serving while the node cannot
// hear of other nodes' writes.

// partitionKeys marks a cache key that names every key of a partition:
// an alias change alters kms:ResourceAliases of the key it leaves, which
// the alias record alone does not name.
const partitionKeys = "K|"

// CacheKeysOf returns the key cache entries that a write of the record at
// bucket and key makes stale: the key of a key record or of a grant, the
// alias of an alias record and every key of its partition.
func CacheKeysOf(bucket, key []byte) []string {
	switch {
	case bytes.Equal(bucket, bucketKeys):
		return []string{"k|" + string(key)}
	case bytes.Equal(bucket, bucketGrants):
		// partition | key id / grant id
		if i := bytes.LastIndexByte(key, '/'); i > 0 {
			return []string{"k|" + string(key[:i])}
		}
	case bytes.Equal(bucket, bucketAliases):
		// partition (account/region/) | alias name
		if part, ok := partitionOf(string(key)); ok {
			return []string{"a|" + string(key), partitionKeys + part}
		}
	}
	return nil
}

// partitionOf returns the account/region/ prefix of a store key.
func partitionOf(key string) (string, bool) {
	i := strings.IndexByte(key, '/')
	if i < 0 {
		return "", false
	}
	j := strings.IndexByte(key[i+1:], '/')
	if j < 0 {
		return "", false
	}
	return key[:i+1+j+1], true
}

// InvalidateCache drops the entries CacheKeysOf named, after a write that
// another node committed.
func (s *Service) InvalidateCache(keys ...string) {
	c := s.cache
	var exact []string
	var parts []string
	for _, k := range keys {
		if p, ok := strings.CutPrefix(k, partitionKeys); ok {
			parts = append(parts, "k|"+p)
		} else {
			exact = append(exact, k)
		}
	}
	c.invalidate(exact...)
	if len(parts) > 0 {
		c.invalidatePrefixes(parts)
	}
}

// FlushCache drops every entry.
func (s *Service) FlushCache() { s.cache.flush() }

// GateCache makes the cache serve and keep entries only while fresh
// reports true; otherwise every lookup reads the store. Call it before the
// Service serves.
func (s *Service) GateCache(fresh func() bool) { s.cache.fresh = fresh }
