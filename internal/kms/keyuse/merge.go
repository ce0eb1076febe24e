package keyuse

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/kmsd/kmsd/internal/store"
)

// Merging the runs of key uses (runs.go) into place: when a
// merge is due, the job that runs it, and the merge itself, a k-way merge
// of every run in key order.

// runCursor reads one run's uses in key order, a few chunks at a time,
// and keeps the keys of the chunks it read.
type runCursor struct {
	id     runID
	after  []byte // the key of the last chunk read
	uses   []runUse
	done   bool
	chunks [][]byte
}

const cursorChunks = 4

// next returns the run's next use; ok is false at its end.
func (c *runCursor) next(ctx context.Context, st store.Store) (u runUse, ok bool, err error) {
	for len(c.uses) == 0 {
		if c.done {
			return u, false, nil
		}
		err = st.View(ctx, func(tx store.Tx) error {
			kvs, err := tx.Scan(BucketChunks, c.id[:], c.after, cursorChunks)
			if err != nil {
				return err
			}
			c.done = len(kvs) < cursorChunks
			for _, kv := range kvs {
				uses, err := parseChunk(kv.Value)
				if err != nil {
					return fmt.Errorf("run %x: %w", c.id, err)
				}
				c.uses = append(c.uses, uses...)
				c.chunks = append(c.chunks, kv.Key)
				c.after = kv.Key
			}
			return nil
		})
		if err != nil {
			return u, false, err
		}
	}
	u, c.uses = c.uses[0], c.uses[1:]
	return u, true, nil
}

// runHeads orders the runs' next uses by key.
type runHeads []runHead

type runHead struct {
	use runUse
	c   *runCursor
}

func (h runHeads) Len() int           { return len(h) }
func (h runHeads) Less(i, j int) bool { return bytes.Compare(h[i].use.key, h[j].use.key) < 0 }
func (h runHeads) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeads) Push(x any)        { *h = append(*h, x.(runHead)) }
func (h *runHeads) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// runsState is what the run directory says: how many uses and runs, and
// when the oldest run was written.
type runsState struct {
	uses, runs int
	oldest     time.Time
}

func stateOf(runs []runInfo) runsState {
	var st runsState
	for _, r := range runs {
		st.uses += r.uses
		st.runs++
		if at := r.id.time(); st.oldest.IsZero() || at.Before(st.oldest) {
			st.oldest = at
		}
	}
	return st
}

func (id runID) time() time.Time { return time.Unix(0, int64(binary.BigEndian.Uint64(id[:]))) }

// mergeDue reports whether runs in state st are to be merged at now: once
// they hold enough uses, number enough, or the oldest is old enough, and
// whenever this node's last flush found nothing to write, when a merge
// takes time from nothing else.
func (t *Tracker) mergeDue(st runsState, now time.Time) bool {
	return st.uses >= t.mergeUses || st.runs >= t.mergeRuns ||
		st.runs > 0 && (now.Sub(st.oldest) >= MergeAge || t.idle.Load())
}

// storedRuns lists the runs in a transaction of its own.
func (t *Tracker) storedRuns(ctx context.Context) (runs []runInfo, err error) {
	err = t.store.View(ctx, func(tx store.Tx) error {
		runs, err = listRuns(tx)
		return err
	})
	return runs, err
}

// countRuns notes how many uses the runs hold, and asks for a merge when
// one is due.
func (t *Tracker) countRuns(ctx context.Context) error {
	runs, err := t.storedRuns(ctx)
	if err != nil {
		return fmt.Errorf("count runs of key uses: %w", err)
	}
	st := stateOf(runs)
	t.unmerged.Store(int64(st.uses))
	due := t.mergeDue(st, t.now())
	t.mergeWanted.Store(due)
	if due {
		select {
		case t.mergeSignal <- struct{}{}:
		default:
		}
	}
	return nil
}

// Unmerged is how many key uses the runs held when this tracker last
// counted them, at each flush and merge.
func (t *Tracker) Unmerged() int64 { return t.unmerged.Load() }

// Busy reports whether this tracker's flush runs, or a merge of the runs
// is due or runs on it.
func (t *Tracker) Busy() bool {
	return t.flushActive.Load() || t.mergeActive.Load() || t.mergeWanted.Load()
}

// MergeDue signals when a flush finds a merge of the runs due.
func (t *Tracker) MergeDue() <-chan struct{} { return t.mergeSignal }

// Merge merges the runs of key uses into place when they hold
// Limits.MergeUses uses, number Limits.MergeRuns, or the oldest is
// MergeAge old, or this tracker's last flush wrote nothing, and drops the
// deletion notes older than GoneKept. It returns how many uses it wrote in
// place.
func (t *Tracker) Merge(ctx context.Context) (int, error) {
	select {
	case t.merging <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-t.merging }()
	t.mergeActive.Store(true)
	defer t.mergeActive.Store(false)
	started := t.now()
	n, err := t.merge(ctx, false)
	if err != nil {
		return n, fmt.Errorf("merge runs of key uses: %w", err)
	}
	if err := t.store.Update(ctx, func(tx store.Tx) error { return pruneGone(tx, started.Add(-GoneKept)) }); err != nil {
		return n, fmt.Errorf("prune notes of deleted keys: %w", err)
	}
	return n, t.countRuns(ctx)
}

// MergeAll writes every run's uses in place and drops the runs now, due or
// not; unlike Merge it neither drops deletion notes nor counts the runs.
// It returns how many uses it wrote in place.
func (t *Tracker) MergeAll(ctx context.Context) (int, error) { return t.merge(ctx, true) }

// merge writes the latest use of each key in the runs into
// BucketLastUsage, then drops the runs, when a merge is due (always, if
// force). It returns how many uses it wrote in place. Another node may
// merge the same runs meanwhile: each writes only what is later than what
// is stored, and drops only the chunks it read.
func (t *Tracker) merge(ctx context.Context, force bool) (int, error) {
	runs, err := t.storedRuns(ctx)
	if err != nil || len(runs) == 0 {
		return 0, err
	}
	if !force && !t.mergeDue(stateOf(runs), t.now()) {
		return 0, nil
	}
	heads := make(runHeads, 0, len(runs))
	cursors := make([]*runCursor, len(runs))
	for i, r := range runs {
		cursors[i] = &runCursor{id: r.id}
		u, ok, err := cursors[i].next(ctx, t.store)
		if err != nil {
			return 0, err
		}
		if ok {
			heads = append(heads, runHead{u, cursors[i]})
		}
	}
	heap.Init(&heads)
	written := 0
	batch := make([]runUse, 0, flushBatch)
	write := func() error {
		n := 0
		err := t.store.Update(ctx, func(tx store.Tx) error {
			n = 0
			for _, u := range batch {
				wrote, err := t.writeUse(tx, u.key, u.at, u.stored)
				if err != nil {
					return err
				}
				if wrote {
					n++
				}
			}
			return nil
		})
		if err == nil {
			written += n
		}
		batch = batch[:0]
		return err
	}
	for len(heads) > 0 {
		u, c := heads[0].use, heads[0].c
		next, ok, err := c.next(ctx, t.store)
		if err != nil {
			return written, err
		}
		if ok {
			heads[0].use = next
			heap.Fix(&heads, 0)
		} else {
			heap.Pop(&heads)
		}
		if n := len(batch); n > 0 && bytes.Equal(batch[n-1].key, u.key) {
			if u.at > batch[n-1].at {
				batch[n-1] = u
			}
			continue
		}
		if len(batch) == flushBatch {
			if err := write(); err != nil {
				return written, err
			}
		}
		batch = append(batch, u)
	}
	if err := write(); err != nil {
		return written, err
	}
	// Each run's chunks, a batch a transaction, then its entry: a run
	// left half dropped (by a crash) is merged again, and its uses are
	// all in place already.
	for i, c := range cursors {
		for len(c.chunks) > 0 {
			part := c.chunks[:min(flushBatch, len(c.chunks))]
			c.chunks = c.chunks[len(part):]
			if err := t.store.Update(ctx, func(tx store.Tx) error { return deleteAll(tx, BucketChunks, part) }); err != nil {
				return written, err
			}
		}
		if err := t.store.Update(ctx, func(tx store.Tx) error { return tx.Delete(BucketRuns, runs[i].id[:]) }); err != nil {
			return written, err
		}
	}
	return written, nil
}

func deleteAll(tx store.Tx, bucket []byte, keys [][]byte) error {
	for _, k := range keys {
		if err := tx.Delete(bucket, k); err != nil {
			return err
		}
	}
	return nil
}

// goneBatch bounds the deletion notes one prune reads.
const goneBatch = 4096

// pruneGone drops deletion notes from before cutoff, up to goneBatch of
// them.
func pruneGone(tx store.Tx, cutoff time.Time) error {
	kvs, err := tx.Scan(BucketGone, nil, nil, goneBatch)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if len(kv.Value) == 8 && int64(binary.BigEndian.Uint64(kv.Value)) >= cutoff.UnixNano() {
			continue
		}
		if err := tx.Delete(BucketGone, kv.Key); err != nil {
			return err
		}
	}
	return nil
}
