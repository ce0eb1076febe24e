package auditindex

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.etcd.io/bbolt"
)

// Query selects the events of one trail (an account's events in one
// Region) by at most one attribute and a time range, newest first.
type Query struct {
	Account, Region string
	// Attr and Value select events by one attribute; an empty Attr
	// selects every event of the trail.
	Attr  Attr
	Value string
	// Start and End bound the event time, both included; zero leaves a
	// side open.
	Start, End time.Time
	// Limit is the most events a page holds (at least 1).
	Limit int
	// After continues a previous page: only events older than it.
	After *Position
}

// Position is an event's place in the newest-first order: its event time
// (Unix seconds) and then its seq.
type Position struct {
	Time uint32
	Seq  uint64
}

// Page is one page of a lookup, newest first. Next is where the next page
// starts; nil when there is none.
type Page struct {
	Events []*Event
	Next   *Position
}

// ErrUnknownAttr is returned for an attribute LookupEvents does not have.
var ErrUnknownAttr = errors.New("auditindex: unknown lookup attribute")

// Lookup returns a page of the events q selects. It first waits, up to
// Options.FreshnessTimeout, until every record durable when it was called
// is indexed, so a caller finds the record of a request it made; while
// the index is being rebuilt from the log, it answers from what is
// indexed at once.
func (ix *Index) Lookup(ctx context.Context, q Query) (Page, error) {
	if q.Limit < 1 {
		return Page{}, fmt.Errorf("auditindex: limit %d", q.Limit)
	}
	if _, ok := q.Attr.code(); !ok && q.Attr != EventID {
		return Page{}, ErrUnknownAttr
	}
	ix.waitFresh(ctx)
	lo, hi := bounds(&q)
	var page Page
	err := ix.db.View(func(tx *bbolt.Tx) error {
		if q.Attr == EventID {
			return ix.lookupEventID(ctx, tx, &q, lo, hi, &page)
		}
		return ix.scanTerm(ctx, tx, &q, lo, hi, &page)
	})
	return page, err
}

// bounds returns q's time range in the seconds postings store, both
// ends included.
func bounds(q *Query) (lo, hi uint32) {
	lo, hi = 0, math.MaxUint32
	if !q.Start.IsZero() {
		lo = ceilSeconds(q.Start)
	}
	if !q.End.IsZero() {
		hi = unixSeconds(q.End)
	}
	return lo, hi
}

// scanTerm pages through the postings of q's term from the newest at or
// before the upper bound (End, or After exclusive). Postings are keyed by
// a hash of the term, which others may share: an event is listed only if
// it has the term, and a page has a Next only if an event follows it.
func (ix *Index) scanTerm(ctx context.Context, tx *bbolt.Tx, q *Query, lo, hi uint32, page *Page) error {
	tm := term{q.Attr, q.Value}
	if code, _ := q.Attr.code(); unposted(code, q.Value) {
		tm = term{all, ""}
	}
	// The bound: postings up to (hi, any seq), or before the page position.
	bound := Position{Time: hi, Seq: math.MaxUint64}
	if q.After != nil && q.After.Time <= hi {
		bound = *q.After
	}
	ps := postingSources{lo: lo, within: func(p posting) bool {
		return p.time < bound.Time || p.time == bound.Time && (p.seq < bound.Seq || p.seq == bound.Seq && q.After == nil)
	}}
	if err := ps.openAll(tx, ix.hash(termKey(nil, q.Account, q.Region, tm)), bound); err != nil {
		return err
	}
	for {
		p, ok, err := ps.next()
		if err != nil || !ok {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		ev, err := ix.event(p.seq, p.loc, q)
		if err != nil {
			return err
		}
		if ev == nil || !ev.has(q.Attr, q.Value) {
			continue
		}
		if len(page.Events) == q.Limit {
			last := page.Events[len(page.Events)-1]
			page.Next = &Position{Time: unixSeconds(last.Time), Seq: last.Seq}
			return nil
		}
		page.Events = append(page.Events, ev)
	}
}

// lookupEventID finds the one event with q.Value as its event ID.
func (ix *Index) lookupEventID(_ context.Context, tx *bbolt.Tx, q *Query, lo, hi uint32, page *Page) error {
	v := tx.Bucket(bucketEvents).Get(eventKey(nil, q.Value))
	if v == nil {
		return nil
	}
	seq, t, loc, ok := parseEventValue(v)
	if !ok {
		return errors.New("auditindex: malformed event entry")
	}
	if t < lo || t > hi || (q.After != nil && !older(t, seq, *q.After)) {
		return nil
	}
	ev, err := ix.event(seq, loc, q)
	if err != nil || ev == nil || ev.EventID != q.Value {
		return err
	}
	page.Events = append(page.Events, ev)
	return nil
}

// event reads the record with seq at loc; nil if it is gone from the log
// or is not of q's trail.
func (ix *Index) event(seq uint64, loc location, q *Query) (*Event, error) {
	ln, err := ix.log.read(seq, loc)
	if errors.Is(err, errGone) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auditindex: read the log: %w", err)
	}
	ev, err := decodeEvent(seq, ln.body)
	if err != nil || ev.Account != q.Account || ev.Region != q.Region {
		return nil, nil
	}
	return ev, nil
}

// ceilSeconds is the first whole second at or after t, as postings store
// it: an event at 10s is not "at or after" 10.5s.
func ceilSeconds(t time.Time) uint32 {
	s := unixSeconds(t)
	if t.Nanosecond() != 0 && s < math.MaxUint32 && t.Unix() >= 0 {
		s++
	}
	return s
}

// waitFresh waits until the records durable now are indexed, at most
// Options.FreshnessTimeout or until ctx ends; not at all while the index
// is bulk-loaded from the log.
func (ix *Index) waitFresh(ctx context.Context) {
	target := ix.noticed.Load()
	if ix.applied.Load() >= target || ix.loading.Load() {
		return // up to date, or loading the log for longer than a lookup may wait
	}
	ix.waiters.Add(1)
	defer ix.waiters.Add(-1)
	select {
	case ix.hurry <- struct{}{}:
	default:
	}
	timer := time.NewTimer(ix.opts.FreshnessTimeout)
	defer timer.Stop()
	for {
		ix.mu.Lock()
		progress := ix.progress
		ix.mu.Unlock()
		if ix.applied.Load() >= target {
			return
		}
		select {
		case <-progress:
		case <-timer.C:
			ix.opts.Logger.Warn("audit index behind the log; answering from what is indexed", "indexedSeq", ix.applied.Load(), "durableSeq", target)
			return
		case <-ctx.Done():
			return
		}
	}
}
