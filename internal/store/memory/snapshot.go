package memory

import (
	"maps"
	"slices"
	"strings"
)

// entry is one stored pair. Keys are strings so that they compare bytewise
// with the < operator and cannot be changed through an alias.
type entry struct {
	key   string
	value []byte // never nil, never handed out without copying
}

// bucket is an immutable slice of entries sorted by key.
type bucket []entry

// snapshot is one committed state. It is never modified once published.
type snapshot struct {
	buckets map[string]bucket
}

// find returns the index of the first entry whose key is >= k.
func (b bucket) find(k string) int {
	i, _ := slices.BinarySearchFunc(b, k, func(e entry, k string) int { return strings.Compare(e.key, k) })
	return i
}

func (b bucket) get(k string) ([]byte, bool) {
	i := b.find(k)
	if i < len(b) && b[i].key == k {
		return b[i].value, true
	}
	return nil, false
}

// apply returns a new snapshot with writes (bucket → key → value, nil
// meaning deleted) applied. Buckets not written are shared with s.
func (s *snapshot) apply(writes map[string]map[string][]byte) *snapshot {
	if len(writes) == 0 {
		return s
	}
	next := &snapshot{buckets: maps.Clone(s.buckets)}
	for name, w := range writes {
		merged := merge(s.buckets[name], w)
		if len(merged) == 0 {
			delete(next.buckets, name)
			continue
		}
		next.buckets[name] = merged
	}
	return next
}

// merge returns old with the writes w applied, as a new sorted bucket.
func merge(old bucket, w map[string][]byte) bucket {
	keys := slices.Sorted(maps.Keys(w))
	out := make(bucket, 0, len(old)+len(keys))
	i := 0
	for _, k := range keys {
		for i < len(old) && old[i].key < k {
			out = append(out, old[i])
			i++
		}
		if i < len(old) && old[i].key == k {
			i++ // replaced or deleted
		}
		if v := w[k]; v != nil {
			out = append(out, entry{key: k, value: v})
		}
	}
	return append(out, old[i:]...)
}
