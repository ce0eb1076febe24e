package auditindex

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"
)

const (
	// postingsFill is the fill of the postings bucket's pages: each term's
	// postings grow at their end, so pages split late.
	postingsFill = 0.9
	// eventsFill is the fill of the events bucket's pages when a commit's
	// event IDs come after the bucket's (time-ordered IDs grow the tree at
	// its end): the room left takes the IDs of calls that began a little
	// before others but were logged after. Random IDs go anywhere, and
	// split pages are better left half full for them.
	eventsFill = 0.9
	// arenaChunk is the size of the arena's chunks.
	arenaChunk = 64 << 10
)

// commit indexes recs in one transaction.
func (ix *Index) commit(recs []pending) error {
	if len(recs) == 0 {
		return nil
	}
	st := ix.st
	err := ix.update(func(tx *bbolt.Tx) error { return ix.index(tx, &st, recs) })
	if err != nil {
		clear(ix.terms) // it may hold ids the failed transaction assigned
		return fmt.Errorf("auditindex: index records %d to %d: %w", recs[0].line.seq, recs[len(recs)-1].line.seq, err)
	}
	ix.st = st
	if ix.merge.due(&ix.st, 0) {
		return ix.mergeRecent()
	}
	return nil
}

// index writes the postings and event IDs of recs and moves st past them.
func (ix *Index) index(tx *bbolt.Tx, st *state, recs []pending) error {
	terms, events := tx.Bucket(bucketTerms), tx.Bucket(bucketEvents)
	// One cursor for the commit's term look-ups: Get makes a cursor, and
	// grows its stack, each time.
	tc := terms.Cursor()
	w := &ix.work
	w.round++
	w.touched, w.puts, w.events = w.touched[:0], w.puts[:0], w.events[:0]
	w.arena.reset()
	if len(ix.terms) >= maxCachedTerms {
		// Only between commits: a term's postings of one commit are one list.
		clear(ix.terms)
	}
	last := recs[len(recs)-1]
	st.LastSeq, st.LastHash, st.LastOffset, st.LastLength = last.line.seq, string(last.line.hash), last.loc.offset, last.loc.length
	for _, r := range recs {
		if w.scan.scan(r.line.body) != nil || len(w.scan.f.account) == 0 {
			continue // not an event of any account's trail: nothing finds it
		}
		f := &w.scan.f
		at, err := eventTime(f.eventTime)
		if err != nil {
			continue
		}
		t := unixSeconds(at)
		w.terms = f.terms(w.terms[:0])
		for _, tm := range w.terms {
			if len(tm.value) > maxTermValue || unposted(tm.code, tm.value) {
				continue
			}
			w.key = appendTermKey(w.key[:0], f.account, f.region, tm.code, tm.value)
			e, err := ix.term(tc, st, w.key)
			if err != nil {
				return err
			}
			w.add(e, posting{time: t, seq: r.line.seq, loc: r.loc})
		}
		if len(f.eventID) != 0 && len(f.eventID) <= maxTermValue {
			k := eventKey(w.arena.alloc(len(f.eventID)+1), f.eventID)
			w.events = append(w.events, kv{k, eventValue(w.arena.alloc(12+2*binary.MaxVarintLen64), r.line.seq, t, r.loc)})
		}
	}
	// Terms in key order, and each term's groups in key order: the puts
	// come out sorted, and bbolt walks its tree once.
	slices.SortFunc(w.touched, func(a, b *termEntry) int { return compareUvarint(a.id, b.id) })
	for _, e := range w.touched {
		w.group(e)
	}
	if err := ix.putPostings(tx, st, w.puts); err != nil {
		return err
	}
	// Time-ordered IDs come nearly sorted. Of an ID recorded twice, the
	// later record (greater seq, the value's start) is put last and wins.
	slices.SortFunc(w.events, func(a, b kv) int {
		if c := bytes.Compare(a.k, b.k); c != 0 {
			return c
		}
		return bytes.Compare(a.v, b.v)
	})
	if appending(events, w.events) {
		events.FillPercent = eventsFill
	}
	if err := putAll(events, w.events); err != nil {
		return err
	}
	return putState(tx, st)
}

// appending reports whether most of kvs (sorted) come after b's last
// key: whether b grows at its end.
func appending(b *bbolt.Bucket, kvs []kv) bool {
	last, _ := b.Cursor().Last()
	before, _ := slices.BinarySearchFunc(kvs, last, func(e kv, k []byte) int {
		if bytes.Compare(e.k, k) <= 0 {
			return -1
		}
		return 1
	})
	return 4*(len(kvs)-before) >= 3*len(kvs)
}

func putAll(b *bbolt.Bucket, kvs []kv) error {
	for _, e := range kvs {
		if err := b.Put(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

// compareUvarint orders term ids as their uvarint encodings, which start
// posting keys, sort.
func compareUvarint(a, b uint64) int {
	var x, y [binary.MaxVarintLen64]byte
	return bytes.Compare(x[:binary.PutUvarint(x[:], a)], y[:binary.PutUvarint(y[:], b)])
}

// kv is a key and value to put.
type kv struct{ k, v []byte }

// work holds the indexer's buffers, reused from round to round.
type work struct {
	scan    scanner
	recs    []pending
	terms   []rawTerm
	key     []byte
	round   uint64       // the commit being built, counted from 1
	touched []*termEntry // the terms with postings in it
	puts    []kv
	events  []kv
	arena   arena
	segKey  []byte      // a recent key being put
	segs    []segCursor // the segments a merge reads
}

// termEntry is a term the indexer knows: its id, and its postings in the
// commit being built.
type termEntry struct {
	id       uint64
	round    uint64    // the commit posts belongs to
	posts    []posting // in log order
	unsorted bool      // some posting's time is before the one's before it
}

// add lists p as a posting of e in the commit being built.
func (w *work) add(e *termEntry, p posting) {
	if e.round != w.round {
		e.round, e.posts, e.unsorted = w.round, e.posts[:0], false
		w.touched = append(w.touched, e)
	} else if p.time < e.posts[len(e.posts)-1].time {
		e.unsorted = true
	}
	e.posts = append(e.posts, p)
}

// group puts the postings of e, a key per second and up to maxGroup
// postings (see postingKey).
func (w *work) group(e *termEntry) {
	if e.unsorted {
		// A record logged after a later one: by time, in log order within
		// a second. Records mostly come in time order, so this is rare.
		slices.SortStableFunc(e.posts, func(a, b posting) int { return compare(a.time, b.time) })
	}
	for rest := e.posts; len(rest) > 0; {
		n := 1
		for n < len(rest) && n < maxGroup && rest[n].time == rest[0].time {
			n++
		}
		k := postingKey(w.arena.alloc(binary.MaxVarintLen64+postingSuffix), e.id, rest[0].time, rest[0].seq)
		v := w.arena.alloc(n * 3 * binary.MaxVarintLen64)
		for _, p := range rest[:n] {
			v = appendGroupEntry(v, p.seq-rest[0].seq, p.loc)
		}
		w.puts = append(w.puts, kv{k, v})
		rest = rest[n:]
	}
	if cap(e.posts) > 4*len(e.posts) && cap(e.posts) > 1024 {
		e.posts = nil // a long catch-up's list: not kept for the rounds after it
	}
}

// term returns the term with key k, assigning the next id to a new one.
func (ix *Index) term(tc *bbolt.Cursor, st *state, k []byte) (*termEntry, error) {
	if e, ok := ix.terms[string(k)]; ok {
		return e, nil
	}
	var id uint64
	if tk, v := tc.Seek(k); bytes.Equal(tk, k) {
		var n int
		if id, n = binary.Uvarint(v); n <= 0 {
			return nil, errors.New("auditindex: malformed term id")
		}
	} else {
		id = st.NextTerm
		st.NextTerm++
		if err := tc.Bucket().Put(k, binary.AppendUvarint(nil, id)); err != nil {
			return nil, err
		}
	}
	e := &termEntry{id: id}
	ix.terms[string(k)] = e
	return e, nil
}

// arena holds the values of a commit's puts, which bbolt keeps (unlike
// keys) until the commit ends. Its chunks serve commit after commit.
type arena struct {
	chunks [][]byte
	used   int // chunks in use; the last of them has room
}

func (a *arena) reset() {
	for i := range a.chunks[:a.used] {
		a.chunks[i] = a.chunks[i][:0]
	}
	a.used = 0
}

// alloc returns an empty slice with room for n bytes.
func (a *arena) alloc(n int) []byte {
	if a.used > 0 {
		if c := a.chunks[a.used-1]; cap(c)-len(c) >= n {
			a.chunks[a.used-1] = c[:len(c)+n]
			return c[len(c) : len(c) : len(c)+n]
		}
	}
	if a.used == len(a.chunks) {
		a.chunks = append(a.chunks, nil)
	}
	if cap(a.chunks[a.used]) < n {
		a.chunks[a.used] = make([]byte, 0, max(arenaChunk, n))
	}
	c := a.chunks[a.used][:n]
	a.chunks[a.used] = c
	a.used++
	return c[:0:n]
}
