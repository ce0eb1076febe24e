package auditindex

import (
	"bytes"
	"encoding/binary"
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
	if ix.st.Merging {
		// A merge that failed half way: a new segment's groups would be
		// among those lookups take for moved.
		if err := ix.mergeRecent(); err != nil {
			return err
		}
	}
	st := ix.st
	err := ix.update(func(tx *bbolt.Tx) error { return ix.index(tx, &st, recs) })
	if err != nil {
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
	events := tx.Bucket(bucketEvents)
	w := &ix.work
	w.reset()
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
		for i, tm := range w.terms {
			if len(tm.value) > maxTermValue || unposted(tm.code, tm.value) {
				continue
			}
			w.key = appendTermKey(w.key[:0], f.account, f.region, tm.code, tm.value)
			w.add(w.hash(ix.hash, i), posting{time: t, seq: r.line.seq, loc: r.loc})
		}
		if len(f.eventID) != 0 && len(f.eventID) <= maxTermValue {
			k := eventKey(w.arena.alloc(len(f.eventID)+1), f.eventID)
			w.events = append(w.events, kv{k, eventValue(w.arena.alloc(12+2*binary.MaxVarintLen64), r.line.seq, t, r.loc)})
		}
	}
	// Hashes in order, and each hash's groups in key order: the puts come
	// out sorted, and bbolt walks its tree once. The lists stay where they
	// are, with their room, for the next commit, whose first terms (the
	// trail's, with the most postings) are mostly this one's.
	order := w.order[:0]
	for i := range w.lists[:len(w.byHash)] {
		order = append(order, listRef{w.lists[i].hash, i})
	}
	slices.SortFunc(order, func(a, b listRef) int { return compare(a.hash, b.hash) })
	for _, r := range order {
		w.group(&w.lists[r.i])
	}
	w.order = order
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

// kv is a key and value to put.
type kv struct{ k, v []byte }

// work holds the indexer's buffers, reused from round to round.
type work struct {
	scan   scanner
	recs   []pending
	terms  []rawTerm
	key    []byte
	byHash map[uint64]int // the commit's term hashes: their lists' index
	lists  []termList     // the first len(byHash) are the commit's
	order  []listRef      // the commit's lists by hash
	puts   []kv
	events []kv
	arena  arena
	prev   []hashedTerm // the last record's terms, by their place in its list
	segKey []byte       // a recent key being put
	segs   []segCursor  // the segments a merge reads
}

// termList is the postings of one term hash in the commit being built.
type termList struct {
	hash     uint64
	posts    []posting // in log order
	unsorted bool      // some posting's time is before the one's before it
}

// hashedTerm is a term key and its hash.
type hashedTerm struct {
	key  []byte
	hash uint64
}

// hash returns the hash of w.key, the i-th of a record's terms: the last
// record's i-th term's if it is the same, as most are from record to
// record (the trail's, the name and the caller), so that a record costs
// about one hash, of the key it names, and not one per term.
func (w *work) hash(hash func([]byte) uint64, i int) uint64 {
	for len(w.prev) <= i {
		w.prev = append(w.prev, hashedTerm{})
	}
	p := &w.prev[i]
	if !bytes.Equal(p.key, w.key) {
		p.key, p.hash = append(p.key[:0], w.key...), hash(w.key)
	}
	return p.hash
}

// listRef is a term list's hash and index.
type listRef struct {
	hash uint64
	i    int
}

// reset readies w for a commit.
func (w *work) reset() {
	if w.byHash == nil {
		w.byHash = make(map[uint64]int)
	}
	clear(w.byHash)
	w.puts, w.events = w.puts[:0], w.events[:0]
	w.arena.reset()
}

// add lists p as a posting of hash h in the commit being built, once:
// a record's terms are added one after another, and those whose hashes
// collide list it under the same hash.
func (w *work) add(h uint64, p posting) {
	i, ok := w.byHash[h]
	if !ok {
		i = len(w.byHash)
		w.byHash[h] = i
		if i == len(w.lists) {
			w.lists = append(w.lists, termList{})
		}
		l := &w.lists[i]
		l.hash, l.posts, l.unsorted = h, append(l.posts[:0], p), false
		return
	}
	l := &w.lists[i]
	switch prev := l.posts[len(l.posts)-1]; {
	case prev.seq == p.seq:
		return
	case p.time < prev.time:
		l.unsorted = true
	}
	l.posts = append(l.posts, p)
}

// group puts the postings of l, a key per second and up to maxGroup
// postings (see postingKey).
func (w *work) group(l *termList) {
	if l.unsorted {
		// A record logged after a later one: by time, in log order within
		// a second. Records mostly come in time order, so this is rare.
		slices.SortStableFunc(l.posts, func(a, b posting) int { return compare(a.time, b.time) })
	}
	for rest := l.posts; len(rest) > 0; {
		n := 1
		for n < len(rest) && n < maxGroup && rest[n].time == rest[0].time {
			n++
		}
		k := postingKey(w.arena.alloc(hashSize+postingSuffix), l.hash, rest[0].time, rest[0].seq)
		v := w.arena.alloc(n * 3 * binary.MaxVarintLen64)
		for _, p := range rest[:n] {
			v = appendGroupEntry(v, p.seq-rest[0].seq, p.loc)
		}
		w.puts = append(w.puts, kv{k, v})
		rest = rest[n:]
	}
	if cap(l.posts) > 4*len(l.posts) && cap(l.posts) > 1024 {
		l.posts = nil // a long catch-up's list: not kept for the rounds after it
	}
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
