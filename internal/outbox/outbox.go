package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
	"github.com/kmsd/kmsd/internal/store"
)

// bucket holds the records of committed changes not yet known to be in the
// audit log, keyed by eventID.
var bucket = []byte("audit-outbox")

// RecoveredKey marks, in additionalEventData, a record shipped from the
// outbox: its change committed, but the server could not write the final
// record (with the response) to the log.
const RecoveredKey = "kmsdRecoveredFromOutbox"

// Log is where records end up. Append returns nil only once the record is
// durable.
type Log interface {
	Append(ev *audit.Event) error
}

// Entry is the audit record of one state change, built when its first
// transaction commits.
type Entry struct {
	id        []byte
	build     func() *audit.Event
	staged    *audit.Event // set by Stage in the running transaction
	kept      *audit.Event // the staged record that committed
	body      []byte
	committed atomic.Bool
}

// NewEntry returns the entry of the request whose record has the given
// eventID; build returns the record as known at commit time.
func NewEntry(eventID string, build func() *audit.Event) *Entry {
	return &Entry{id: []byte(eventID), build: build}
}

// Stage sets, from inside a transaction, the record of the change that
// transaction makes, for work that knows its record only then (background
// jobs). It does nothing when ctx carries no entry.
func Stage(ctx context.Context, ev *audit.Event) {
	if e := entryOf(ctx); e != nil {
		e.staged, e.body = ev, nil
	}
}

// Staged returns the record staged by the transaction that committed, or
// nil.
func (e *Entry) Staged() *audit.Event { return e.kept }

// record encodes the entry's record, or returns nil if it has none yet.
func (e *Entry) record() ([]byte, error) {
	if e.body != nil {
		return e.body, nil
	}
	var ev *audit.Event
	switch {
	case e.staged != nil:
		ev = e.staged
	case e.build != nil:
		ev = e.build()
	default:
		return nil, nil
	}
	if ev.EventID == "" || (len(e.id) > 0 && string(e.id) != ev.EventID) {
		return nil, fmt.Errorf("outbox: record %q has eventID %q", e.id, ev.EventID)
	}
	b, err := ev.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("outbox: encode record: %w", err)
	}
	e.id, e.body = []byte(ev.EventID), b
	return b, nil
}

// Committed reports whether a transaction carrying the entry committed, so
// its record is durable in the outbox.
func (e *Entry) Committed() bool { return e.committed.Load() }

type ctxKey struct{}

// With returns a context whose store transactions carry e.
func With(ctx context.Context, e *Entry) context.Context {
	return context.WithValue(ctx, ctxKey{}, e)
}

// Without returns a context whose store transactions carry no entry: for
// a write that is not the request's change (bookkeeping done on the way),
// which must not commit the request's record before the change does.
func Without(ctx context.Context) context.Context {
	if entryOf(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, (*Entry)(nil))
}

func entryOf(ctx context.Context) *Entry {
	e, _ := ctx.Value(ctxKey{}).(*Entry)
	return e
}

// Outbox tracks the entries of one store.
type Outbox struct {
	st     store.Store // the unwrapped store
	log    Log
	logger *slog.Logger

	mu        sync.Mutex
	inflight  map[string]struct{} // committed or committing, request not finished
	delivered [][]byte            // in the log; delete from the outbox
	deleting  map[string]struct{} // delivered, in a delete not yet committed
}

// New returns the outbox of st, shipping to log.
func New(st store.Store, log Log, logger *slog.Logger) *Outbox {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Outbox{st: st, log: log, logger: logger, inflight: map[string]struct{}{}, deleting: map[string]struct{}{}}
}

// Store returns the store to give to the code that serves requests: its
// Update writes the context's Entry with the transaction.
func (o *Outbox) Store() store.Store { return wrapped{Store: o.st, o: o} }

type wrapped struct {
	store.Store
	o *Outbox
}

// Update runs fn and, in the same transaction, writes the context's entry
// and deletes the entries already delivered.
func (w wrapped) Update(ctx context.Context, fn func(store.Tx) error) error {
	e := entryOf(ctx)
	done := w.o.takeDelivered()
	if e == nil && len(done) == 0 {
		return w.Store.Update(ctx, fn)
	}
	written := false
	var marked [][]byte // ids set in flight by the attempts
	err := w.Store.Update(ctx, func(tx store.Tx) error {
		written = false
		if e != nil && e.build == nil {
			// A retried transaction stages its record again, or none.
			e.staged, e.body = nil, nil
		}
		if err := fn(tx); err != nil {
			return err
		}
		if e != nil {
			body, err := e.record()
			if err != nil {
				return err
			}
			if body != nil {
				if err := tx.Put(bucket, e.id, body); err != nil {
					return err
				}
				written = true
				// In flight from before the commit: a Ship looking
				// between the commit and the return must not ship it.
				w.o.setInflight(e.id)
				marked = append(marked, e.id)
			}
		}
		for _, id := range done {
			if err := tx.Delete(bucket, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.o.giveBack(done)
	} else {
		w.o.deleted(done)
		if written {
			e.kept = e.staged
			e.committed.Store(true)
		}
	}
	w.o.unmark(marked, e)
	return err
}

func (o *Outbox) setInflight(id []byte) {
	o.mu.Lock()
	o.inflight[string(id)] = struct{}{}
	o.mu.Unlock()
}

// unmark takes the ids an Update's attempts set in flight out again,
// except e's own once one of its transactions committed (a retried job
// may have staged another record, with another id, in an earlier attempt).
func (o *Outbox) unmark(marked [][]byte, e *Entry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range marked {
		if !e.Committed() || string(id) != string(e.id) {
			delete(o.inflight, string(id))
		}
	}
}

// takeDelivered hands the delivered entries to a transaction that deletes
// them; until it ends (deleted or giveBack) they are neither stranded nor
// delivered.
func (o *Outbox) takeDelivered() [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.delivered
	o.delivered = nil
	for _, id := range d {
		o.deleting[string(id)] = struct{}{}
	}
	return d
}

// deleted notes that the transaction deleting ids committed.
func (o *Outbox) deleted(ids [][]byte) {
	if len(ids) == 0 {
		return
	}
	o.mu.Lock()
	for _, id := range ids {
		delete(o.deleting, string(id))
	}
	o.mu.Unlock()
}

// giveBack returns entries to delivered: the transaction meant to delete
// them failed, or they were shipped and await their delete.
func (o *Outbox) giveBack(ids [][]byte) {
	if len(ids) == 0 {
		return
	}
	o.mu.Lock()
	o.delivered = append(o.delivered, ids...)
	for _, id := range ids {
		delete(o.deleting, string(id))
	}
	o.mu.Unlock()
}

// Append writes a record straight to the log: the outbox is the sink of
// background jobs, whose records Stage put in the outbox first.
func (o *Outbox) Append(ev *audit.Event) error { return o.log.Append(ev) }

// Finish ends a request: delivered says whether its final record is
// durable in the log. A delivered entry is deleted from the outbox with the
// next transaction; an undelivered one stays for Ship.
func (o *Outbox) Finish(e *Entry, delivered bool) {
	if !e.Committed() {
		return
	}
	o.mu.Lock()
	delete(o.inflight, string(e.id))
	if delivered {
		o.delivered = append(o.delivered, e.id)
	}
	o.mu.Unlock()
}

// Flush deletes the delivered entries now.
func (o *Outbox) Flush(ctx context.Context) error {
	done := o.takeDelivered()
	if len(done) == 0 {
		return nil
	}
	err := o.st.Update(ctx, func(tx store.Tx) error {
		for _, id := range done {
			if err := tx.Delete(bucket, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		o.giveBack(done)
	} else {
		o.deleted(done)
	}
	return err
}

// Pending counts the entries in the outbox that no request is finishing:
// records of committed changes that are not yet in the log.
func (o *Outbox) Pending(ctx context.Context) (int, error) {
	kvs, err := o.stranded(ctx)
	return len(kvs), err
}

// stranded returns the entries no running request will finish.
func (o *Outbox) stranded(ctx context.Context) ([]store.KV, error) {
	var kvs []store.KV
	if err := o.st.View(ctx, func(tx store.Tx) error {
		var err error
		kvs, err = tx.Scan(bucket, nil, nil, 0)
		return err
	}); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	skip := make(map[string]bool, len(o.delivered))
	for _, id := range o.delivered {
		skip[string(id)] = true
	}
	out := kvs[:0]
	for _, kv := range kvs {
		_, busy := o.inflight[string(kv.Key)]
		_, deleting := o.deleting[string(kv.Key)]
		if !busy && !deleting && !skip[string(kv.Key)] {
			out = append(out, kv)
		}
	}
	return out, nil
}

// Ship writes every stranded entry to the log, marked as recovered, and
// deletes it once the log has it. It returns how many it shipped; it stops
// at the first record the log refuses.
func (o *Outbox) Ship(ctx context.Context) (int, error) {
	kvs, err := o.stranded(ctx)
	if err != nil {
		return 0, err
	}
	return o.ship(ctx, kvs)
}

func (o *Outbox) ship(ctx context.Context, kvs []store.KV) (int, error) {
	n := 0
	for _, kv := range kvs {
		var ev audit.Event
		if err := ev.UnmarshalJSON(kv.Value); err != nil {
			// Never lose it silently: keep it and say so.
			o.logger.Error("outbox entry is not a record; left in place", "eventID", string(kv.Key), "error", err)
			continue
		}
		if ev.AdditionalEventData == nil {
			ev.AdditionalEventData = map[string]any{}
		}
		ev.AdditionalEventData[RecoveredKey] = true
		if err := o.log.Append(&ev); err != nil {
			return n, fmt.Errorf("outbox: ship record %s: %w", kv.Key, err)
		}
		o.giveBack([][]byte{kv.Key})
		n++
	}
	if n > 0 {
		o.logger.Warn("audit records of committed changes shipped from the store's outbox to the log", "records", n)
	}
	return n, o.Flush(ctx)
}

// Recover runs at start, before requests: entries whose record the log
// already holds (the process died between the log's fsync and the outbox
// delete) are deleted; the rest are shipped. inLog marks which of the
// given eventIDs the log holds; none of them has an eventTime before since.
func (o *Outbox) Recover(ctx context.Context, inLog func(ids map[string]bool, since time.Time) error) (int, error) {
	kvs, ids, err := o.strandedInLog(ctx, inLog)
	if err != nil || len(kvs) == 0 {
		return 0, err
	}
	var ship []store.KV
	for _, kv := range kvs {
		if ids[string(kv.Key)] {
			o.giveBack([][]byte{kv.Key})
		} else {
			ship = append(ship, kv)
		}
	}
	return o.ship(ctx, ship)
}

// strandedInLog returns the stranded entries and which of them, by
// eventID, inLog finds in the log; it tells inLog the oldest eventTime among
// them, so the log is read back no further than that.
func (o *Outbox) strandedInLog(ctx context.Context, inLog func(ids map[string]bool, since time.Time) error) ([]store.KV, map[string]bool, error) {
	kvs, err := o.stranded(ctx)
	if err != nil || len(kvs) == 0 {
		return nil, nil, err
	}
	ids := make(map[string]bool, len(kvs))
	var since time.Time
	for _, kv := range kvs {
		ids[string(kv.Key)] = false
		var ev audit.Event
		if ev.UnmarshalJSON(kv.Value) == nil && (since.IsZero() || ev.EventTime.Before(since)) {
			since = ev.EventTime
		}
	}
	if err := inLog(ids, since); err != nil {
		return nil, nil, fmt.Errorf("outbox: look for records in the log: %w", err)
	}
	return kvs, ids, nil
}
