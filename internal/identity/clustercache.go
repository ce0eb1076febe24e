package identity

import "bytes"

// What the cluster layer needs to keep the credential and identity policy
// caches coherent across kmsd nodes sharing one store (see kms's
// clustercache.go for the key cache).

// flushAll is the cache key that stands for every entry: users and roles
// shape the credentials and policies of many callers.
const flushAll = "*"

// CacheKeysOf returns the cache entries that a write of the record at
// bucket and key makes stale: an access key's or session's credential, or
// everything for a user or role (their policies, and the principals their
// credentials name).
func CacheKeysOf(bucket, key []byte) []string {
	switch {
	case bytes.Equal(bucket, bucketAccessKeys), bytes.Equal(bucket, bucketSessions):
		return []string{"c|" + string(key)}
	case bytes.Equal(bucket, bucketUsers), bytes.Equal(bucket, bucketRoles):
		return []string{flushAll}
	}
	return nil
}

// InvalidateCache drops the entries CacheKeysOf named, after a write that
// another node committed.
func (s *Store) InvalidateCache(keys ...string) {
	var akids []string
	for _, k := range keys {
		if k == flushAll {
			s.FlushCache()
			return
		}
		if id, ok := bytes.CutPrefix([]byte(k), []byte("c|")); ok {
			akids = append(akids, string(id))
		}
	}
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	s.gen.Add(1)
	for _, id := range akids {
		if _, loaded := s.creds.LoadAndDelete(id); loaded {
			s.nCreds.Add(-1)
		}
	}
}

// FlushCache drops every cached credential and identity policy.
func (s *Store) FlushCache() {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	s.gen.Add(1)
	s.creds.Clear()
	s.nCreds.Store(0)
	s.policyOf.Clear()
	s.nPolicy.Store(0)
}

// GateCache makes the caches serve and keep entries only while fresh
// reports true; otherwise every lookup reads the store. Call it before the
// Store is used.
func (s *Store) GateCache(fresh func() bool) { s.fresh = fresh }

func (s *Store) cacheFresh() bool { return s.fresh == nil || s.fresh() }
