package auditindex

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"

	"go.etcd.io/bbolt"
)

// A term's postings lie in "postings" and in any segment of "recent".
// Each of these sources lists them newest first on its own: its groups
// of the term sort by time and then first seq, and a group's seqs are a
// run no other group of the term and second overlaps. A lookup merges the
// sources' lists by (time, seq), which keeps the order a single list
// had, records logged out of time order included.

// source walks one bucket's groups of a term backwards from a bound.
type source struct {
	c      *bbolt.Cursor
	prefix []byte // the segment's number, if any, and the term's hash
	floor  []byte // of a segment: groups keyed up to it are in "postings"
	k, v   []byte // the next group to read
	group  []posting
	i      int     // group[:i] are still to list
	head   posting // the newest posting not yet listed
}

// postingSources lists the term's postings newest first from bound
// (included or not, see within) down to time lo.
type postingSources struct {
	srcs   []*source // those with a head
	lo     uint32
	within func(posting) bool
}

// open positions a source of postings of term hash h within b's keys that
// start with seg (nil for "postings"), at the last group starting at or
// before bound: later ones start after it, so all they hold is past it.
func (ps *postingSources) open(b *bbolt.Bucket, seg []byte, h uint64, bound Position, floor []byte) error {
	s := &source{c: b.Cursor(), prefix: binary.BigEndian.AppendUint64(seg, h), floor: floor}
	seek := postingKey(bytes.Clone(seg), h, bound.Time, bound.Seq)
	s.k, s.v = s.c.Seek(seek)
	switch {
	case s.k == nil:
		s.k, s.v = s.c.Last()
	case !bytes.Equal(s.k, seek):
		s.k, s.v = s.c.Prev()
	}
	ok, err := s.advance(ps)
	if ok {
		ps.srcs = append(ps.srcs, s)
	}
	return err
}

// openAll opens "postings" and every segment as sources of term hash h,
// without the segments' groups a merge under way moved to "postings".
func (ps *postingSources) openAll(tx *bbolt.Tx, h uint64, bound Position) error {
	if err := ps.open(tx.Bucket(bucketPostings), nil, h, bound, nil); err != nil {
		return err
	}
	floor := tx.Bucket(bucketMeta).Get(keyMerged)
	recent := tx.Bucket(bucketRecent)
	c := recent.Cursor()
	for s := uint64(0); s <= math.MaxUint32; s++ {
		k, _ := c.Seek(binary.BigEndian.AppendUint32(nil, uint32(s)))
		if len(k) < segmentPrefix {
			break
		}
		s = uint64(binary.BigEndian.Uint32(k))
		if err := ps.open(recent, k[:segmentPrefix:segmentPrefix], h, bound, floor); err != nil {
			return err
		}
	}
	return nil
}

// advance moves s's head to its next posting within the bounds, and
// reports false when there is none.
func (s *source) advance(ps *postingSources) (bool, error) {
	for {
		for s.i > 0 {
			s.i--
			if p := s.group[s.i]; ps.within(p) {
				s.head = p
				return true, nil
			}
		}
		if s.k == nil || len(s.k) != len(s.prefix)+postingSuffix || !bytes.HasPrefix(s.k, s.prefix) {
			return false, nil
		}
		if s.floor != nil && bytes.Compare(s.k[segmentPrefix:], s.floor) <= 0 {
			return false, nil // this and the groups before it were merged
		}
		t, first := splitPosting(s.k)
		if t < ps.lo {
			return false, nil
		}
		var ok bool
		if s.group, ok = groupEntries(s.group[:0], t, first, s.v); !ok {
			return false, errors.New("auditindex: malformed posting")
		}
		s.i = len(s.group)
		s.k, s.v = s.c.Prev()
	}
}

// next returns the newest posting not yet listed; false when none is
// left.
func (ps *postingSources) next() (posting, bool, error) {
	if len(ps.srcs) == 0 {
		return posting{}, false, nil
	}
	top := 0
	for i, s := range ps.srcs[1:] {
		if h, t := s.head, ps.srcs[top].head; h.time > t.time || h.time == t.time && h.seq > t.seq {
			top = i + 1
		}
	}
	s := ps.srcs[top]
	p := s.head
	ok, err := s.advance(ps)
	if !ok {
		ps.srcs = append(ps.srcs[:top], ps.srcs[top+1:]...)
	}
	return p, true, err
}
