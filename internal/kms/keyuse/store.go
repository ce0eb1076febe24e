package keyuse

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kmsd/kmsd/internal/outbox"
	"github.com/kmsd/kmsd/internal/store"
)

// The buckets of the store that hold key uses.
var (
	// BucketLastUsage holds each key's last use (codec.go) under its
	// store key; the tracking start is kept in it too, under a key no
	// partition starts with.
	BucketLastUsage = []byte("lastusage")
	// BucketRuns lists the runs: run id → runInfo.
	BucketRuns = []byte("lastusage-runs")
	// BucketChunks holds the runs' uses: run id | store key of the
	// chunk's last use | 0x00 → a chunk.
	BucketChunks = []byte("lastusage-chunks")
	// BucketGone notes deleted keys: store key → when the key was deleted
	// (Unix nanoseconds, big endian).
	BucketGone = []byte("lastusage-gone")
)

// trackingStartKey holds the tracking start date in BucketLastUsage; no
// partition starts with '!'.
var trackingStartKey = []byte("!trackingStart")

// TrackingStart returns the date kmsd began recording key usage in this
// store: the start of the first process that flushed or reported usage.
func (t *Tracker) TrackingStart(ctx context.Context) (time.Time, error) {
	if s := t.start.Load(); s != nil {
		return *s, nil
	}
	var start time.Time
	// Written once, on the way to a call's own change: not that change, so
	// it does not commit the call's audit record (outbox.Without).
	err := t.store.Update(outbox.Without(ctx), func(tx store.Tx) error {
		b, err := tx.Get(BucketLastUsage, trackingStartKey)
		if errors.Is(err, store.ErrNotFound) {
			start = t.started
			b, err = start.MarshalText()
			if err != nil {
				return err
			}
			return tx.Put(BucketLastUsage, trackingStartKey, b)
		}
		if err != nil {
			return err
		}
		return start.UnmarshalText(b)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("tracking start date: %w", err)
	}
	t.start.Store(&start)
	return start, nil
}

// flushBatch is how many uses one transaction writes: each is an fsync,
// so fewer mean less of the disk's time, and a transaction of this many
// (a few milliseconds of work) holds up the store's other writers no
// longer than a large CreateKey group does.
const flushBatch = 1024

// Flush writes the key uses recorded since the previous flush and returns
// how many it wrote. A use never overwrites a later one already stored,
// and uses of keys deleted meanwhile are dropped.
func (t *Tracker) Flush(ctx context.Context) (int, error) {
	if _, err := t.TrackingStart(ctx); err != nil {
		return 0, err
	}
	if err := t.lockFlush(ctx); err != nil {
		return 0, err
	}
	defer t.unlockFlush()
	t.flushActive.Store(true)
	defer t.flushActive.Store(false)
	pending := t.take()
	t.idle.Store(len(pending) == 0)
	// In key order, so that each transaction rewrites a few neighbouring
	// pages of the store rather than one page per use, and so that runs
	// are in key order.
	slices.SortFunc(pending, func(a, b pendingUse) int { return bytes.Compare(a.key, b.key) })
	// Many uses go as runs, one a transaction (runs.go); fewer in place,
	// flushBatch a transaction.
	size, put := flushBatch, t.putInPlace
	if len(pending) >= t.runAt {
		size, put = t.runMax, func(tx store.Tx, run []pendingUse) error {
			return putRun(tx, newRunID(t.now()), run)
		}
	}
	written := 0
	for len(pending) > 0 {
		batch := pending[:min(size, len(pending))]
		pending = pending[len(batch):]
		if err := t.store.Update(ctx, func(tx store.Tx) error { return put(tx, batch) }); err != nil {
			t.requeue(batch)
			t.requeue(pending)
			return written, fmt.Errorf("flush last key usage: %w", err)
		}
		t.written(batch)
		written += len(batch)
	}
	return written, t.countRuns(ctx)
}

// putInPlace writes each use of batch where BucketLastUsage keeps its
// key's.
func (t *Tracker) putInPlace(tx store.Tx, batch []pendingUse) error {
	var buf []byte
	for _, p := range batch {
		buf = p.use.appendStored(buf[:0])
		if _, err := t.writeUse(tx, p.key, p.use.at, buf); err != nil {
			return err
		}
	}
	return nil
}

// writeUse stores a use (at, in its stored form) as the last of the key
// stored under key, and reports whether it did: not if the key is gone,
// was deleted after it (and made again), or has a later use stored
// (another node's). A stored use is read where the store keeps it, and
// only its time (storedUseAt, codec.go). It also says the key is there:
// deleting a key deletes its last use in the same transaction (Deleted),
// so the key's presence is read only for a key with no use stored yet.
func (t *Tracker) writeUse(tx store.Tx, key []byte, at int64, stored []byte) (bool, error) {
	if gone, err := goneAt(tx, key); err != nil || at <= gone {
		return false, err
	}
	b, err := store.Lend(tx, BucketLastUsage, key)
	switch {
	case err == nil:
		if was, ok := storedUseAt(b); ok && was > at {
			return false, nil
		}
	case errors.Is(err, store.ErrNotFound):
		if ok, err := store.Has(tx, t.keyBucket, key); err != nil || !ok {
			return false, err
		}
	default:
		return false, err
	}
	// The store copies what it is given: the caller may reuse stored.
	return true, tx.Put(BucketLastUsage, key, stored)
}

// Deleted removes, in the transaction that deletes the key stored under
// key, its last use, and notes that it was deleted at at: a use of it
// still waiting in a run is then dropped, also once a key is made again
// with its id.
func Deleted(tx store.Tx, key []byte, at time.Time) error {
	if err := tx.Delete(BucketLastUsage, key); err != nil {
		return err
	}
	return tx.Put(BucketGone, key, binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())))
}

// LastUse returns the last recorded use of the key stored under key, the
// later of the one in memory and the one stored (another node's, or one a
// late request's older use did not replace); nil when none is recorded.
// keyID names the key in errors.
func (t *Tracker) LastUse(ctx context.Context, key, keyID string) (*Use, error) {
	var u *Use
	if mem, ok := t.peek(key); ok {
		rec := mem.asUse()
		u = &rec
	}
	later := func(b []byte) error {
		stored, err := Decode(b)
		if err != nil {
			return fmt.Errorf("decode last usage of %s: %w", keyID, err)
		}
		if u == nil || stored.At.After(u.At) {
			u = &stored
		}
		return nil
	}
	err := t.store.View(ctx, func(tx store.Tx) error {
		b, err := tx.Get(BucketLastUsage, []byte(key))
		switch {
		case err == nil:
			err = later(b)
		case errors.Is(err, store.ErrNotFound):
			err = nil
		}
		if err != nil {
			return err
		}
		if b, _, err = runUseOf(tx, []byte(key)); err != nil || b == nil {
			return err
		}
		return later(b)
	})
	return u, err
}
