package auditindex

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"go.etcd.io/bbolt"
)

// Postings are log-structured. A commit's groups, one for each term it
// has postings of, would land at each term's place in "postings": on a
// server whose records name many resources nearly every record has a
// term of its own in the commit, and the commit rewrote about a page per
// record. Instead a commit appends its groups to the "recent" bucket as a
// segment, each keyed be32(segment number) | its key in "postings", so
// that the commit's puts come after every key there and fill whole pages.
// Once the segments hold enough groups for each page of "postings" (or
// are too many for lookups to read cheaply), a merge moves them into
// "postings" in key order: each page it rewrites takes several groups.
// A group is in one place at a time, so a merge changes no lookup.

// segmentPrefix is the length of a segment's number in recent keys.
const segmentPrefix = 4

// The merge policy, measured with BenchmarkIndexManyKeys (a million keys,
// 10,000 records a commit): a record cost 10.3 µs of CPU merged at 8
// groups a page, 8.8 at 32 and 8.9 at 64, where 64 segments bound it
// first; 23.4 µs before segments. With postings keyed by term hash
// (version 5) it costs 4.4 µs at 32 (4.2 on a later machine), and 3.7
// once a merge no longer deletes the groups it moved (version 6).
// BenchmarkLookupWithSegments: a lookup pays about 1 to 1.4 µs a segment.
const (
	// mergeSpan: segments are merged once they hold a group for every
	// mergeSpan bytes of "postings" (32 a 4 KiB page), so that a merge
	// rewrites a page for every many groups it moves.
	mergeSpan = 128
	// maxSegments bounds the segments a lookup reads.
	maxSegments = 64
	// mergeChunk bounds the groups one merge transaction moves, and so the
	// pages bbolt holds in the heap until its commit: at 32,768 the most
	// live heap was 135 MB instead of 198 at 131,072, for the same CPU.
	mergeChunk = 1 << 15
)

// mergePolicy says when segments are merged (tests make it merge more or
// less often).
type mergePolicy struct {
	span        int64
	maxSegments uint32
	chunk       int
}

// due reports whether segments holding st's and extra more groups are to
// be merged. A span of 0 merges only for the number of segments.
func (p mergePolicy) due(st *state, extra int) bool {
	n := int64(st.RecentGroups) + int64(extra)
	return n > 0 && (p.span > 0 && n*p.span >= st.MainBytes || st.NextSegment >= p.maxSegments)
}

// groupBytes is what a group takes of a leaf page: a 16-byte header, its
// key and its value.
func groupBytes(k, v []byte) int64 { return int64(16 + len(k) + len(v)) }

// putPostings writes a commit's groups (sorted): into "postings" while
// they are many for its size, as on a small index, and as a new segment
// otherwise.
func (ix *Index) putPostings(tx *bbolt.Tx, st *state, puts []kv) error {
	if len(puts) == 0 {
		return nil
	}
	if st.RecentGroups == 0 && ix.merge.due(st, len(puts)) {
		postings := tx.Bucket(bucketPostings)
		postings.FillPercent = postingsFill
		for _, e := range puts {
			if err := postings.Put(e.k, e.v); err != nil {
				return err
			}
			st.MainBytes += groupBytes(e.k, e.v)
		}
		return nil
	}
	recent := tx.Bucket(bucketRecent)
	recent.FillPercent = 1 // nothing is ever put between its keys
	k := ix.work.segKey
	for _, e := range puts {
		k = append(binary.BigEndian.AppendUint32(k[:0], st.NextSegment), e.k...)
		if err := recent.Put(k, e.v); err != nil {
			return err
		}
	}
	ix.work.segKey = k
	st.NextSegment++
	st.RecentGroups += len(puts)
	return nil
}

// mergeRecent moves every segment's groups into "postings", a transaction
// per chunk of the policy.
func (ix *Index) mergeRecent() error {
	for {
		st := ix.st
		var done bool
		err := ix.update(func(tx *bbolt.Tx) (err error) {
			done, err = ix.mergeStep(tx, &st)
			return err
		})
		if err != nil {
			return fmt.Errorf("auditindex: merge recent postings: %w", err)
		}
		ix.st = st
		if done {
			return nil
		}
	}
}

// mergeStep moves the chunk of segments' groups that come first in
// "postings", in its key order, and reports whether none are left. The
// groups moved stay in their segments until the last chunk, when the
// bucket is dropped: deleting them one by one cost a search of "recent"
// each, about as much as putting them. Meanwhile the meta key keyMerged
// holds the last key moved, and lookups and later chunks skip the
// segments' groups up to it.
func (ix *Index) mergeStep(tx *bbolt.Tx, st *state) (bool, error) {
	recent, postings, meta := tx.Bucket(bucketRecent), tx.Bucket(bucketPostings), tx.Bucket(bucketMeta)
	w := &ix.work
	w.arena.reset()
	from := bytes.Clone(meta.Get(keyMerged))
	h := segHeap(w.segs[:0])
	for s := uint64(0); s <= math.MaxUint32; s++ {
		c := recent.Cursor()
		k, v := c.Seek(binary.BigEndian.AppendUint32(nil, uint32(s)))
		if k == nil {
			break
		}
		if !groupKey(k) {
			return false, errMalformedRecent
		}
		s = uint64(binary.BigEndian.Uint32(k))
		if from != nil {
			seg := k[:segmentPrefix:segmentPrefix]
			seek := append(seg, from...)
			if k, v = c.Seek(seek); bytes.Equal(k, seek) {
				k, v = c.Next()
			}
			if k == nil || !bytes.HasPrefix(k, seg) {
				continue // all moved
			}
			if !groupKey(k) {
				return false, errMalformedRecent
			}
		}
		h = append(h, segCursor{c, k, v, binary.BigEndian.Uint64(k[segmentPrefix:])})
	}
	h.init()
	moved := w.puts[:0]
	for len(h) > 0 && len(moved) < ix.merge.chunk {
		top := &h[0]
		k, v := w.arena.alloc(len(top.k)), w.arena.alloc(len(top.v))
		moved = append(moved, kv{append(k, top.k...), append(v, top.v...)})
		seg := top.k[:segmentPrefix]
		if top.k, top.v = top.c.Next(); top.k == nil || !bytes.HasPrefix(top.k, seg) {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		} else if !groupKey(top.k) {
			return false, errMalformedRecent
		} else {
			top.hash = binary.BigEndian.Uint64(top.k[segmentPrefix:])
		}
		h.down(0)
	}
	clear(h[:cap(h)]) // not to keep the cursors
	w.segs, w.puts = h[:0], moved[:0]
	postings.FillPercent = postingsFill
	for _, e := range moved {
		k := e.k[segmentPrefix:]
		if err := postings.Put(k, e.v); err != nil {
			return false, err
		}
		st.MainBytes += groupBytes(k, e.v)
	}
	done := len(h) == 0
	if done {
		// All moved: dropping the bucket frees its pages without reading them.
		if err := tx.DeleteBucket(bucketRecent); err != nil {
			return false, err
		}
		if _, err := tx.CreateBucket(bucketRecent); err != nil {
			return false, err
		}
		if err := meta.Delete(keyMerged); err != nil {
			return false, err
		}
		st.RecentGroups, st.NextSegment, st.Merging = 0, 0, false
	} else {
		if err := meta.Put(keyMerged, moved[len(moved)-1].k[segmentPrefix:]); err != nil {
			return false, err
		}
		st.RecentGroups = max(0, st.RecentGroups-len(moved))
		st.Merging = true
	}
	return done, putState(tx, st)
}

var errMalformedRecent = errors.New("auditindex: malformed recent posting key")

// groupKey reports whether k is a group's key in "recent".
func groupKey(k []byte) bool { return len(k) == segmentPrefix+hashSize+postingSuffix }

// segCursor is a segment's next group to merge.
type segCursor struct {
	c    *bbolt.Cursor
	k, v []byte
	hash uint64 // k's term hash, which orders most pairs of groups alone
}

// segHeap orders segments' next groups by their key in "postings", the
// least first. Its own code, not container/heap's: the merge sifts it
// once per group moved.
type segHeap []segCursor

func (h segHeap) less(i, j int) bool {
	if a, b := &h[i], &h[j]; a.hash != b.hash {
		return a.hash < b.hash
	}
	return bytes.Compare(h[i].k[segmentPrefix:], h[j].k[segmentPrefix:]) < 0
}

func (h segHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// down moves h[i] down to its place.
func (h segHeap) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if r := c + 1; r < len(h) && h.less(r, c) {
			c = r
		}
		if !h.less(c, i) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}
