package auditindex

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"time"

	"go.etcd.io/bbolt"

	"github.com/kmsd/kmsd/internal/audit"
)

const (
	// retryInterval is how soon a failed index update is tried again when
	// no new record prompts it.
	retryInterval = time.Second
	// chunkRecords is how many records read back from the log one
	// transaction indexes.
	chunkRecords = 16384
	// bulkBytes is how much of the log a catch-up must read for lookups
	// not to wait for it (and for the load to be logged).
	bulkBytes = 16 << 20
	// maxTermValue bounds the attribute values indexed: LookupEvents
	// takes values of at most 2,000 characters, some counted twice.
	maxTermValue = 4000
)

// pending is a record read from the log, to be indexed.
type pending struct {
	line line
	loc  location
}

// run is the indexer goroutine: catch up with the file, then index the
// batches the log reports, a round at a time.
func (ix *Index) run() {
	defer close(ix.done)
	defer func() {
		// A corrupt index file must not take the server down: the index
		// stops following the log, and says how to rebuild it.
		if p := recover(); p != nil {
			ix.fail(fmt.Errorf("auditindex: indexer stopped: %v; stop kmsd and delete %s to rebuild the index from the log", p, ix.opts.Path))
			ix.opts.Logger.Error("audit index stopped", "stack", string(debug.Stack()))
		}
	}()
	ix.fail(ix.catchUp(-1))
	ix.publish()
	var syncAt <-chan time.Time
	for {
		if ix.unsynced && syncAt == nil {
			syncAt = time.After(ix.opts.SyncInterval)
		}
		select {
		case <-ix.kick:
		case <-syncAt:
			syncAt = nil
			if err := ix.sync(); err != nil {
				ix.fail(err)
			}
			continue
		case <-ix.stop:
			ix.round()
			if err := ix.sync(); err != nil {
				ix.fail(err)
			}
			return
		}
		if ix.waiters.Load() == 0 {
			// Nobody is waiting: gather more batches into this round.
			t := time.NewTimer(ix.opts.CommitInterval)
			select {
			case <-t.C:
			case <-ix.hurry:
			case <-ix.stop:
			}
			t.Stop()
		}
		ix.round()
	}
}

// round indexes what is queued, reading from the log whatever the queue
// lacks.
func (ix *Index) round() {
	ix.mu.Lock()
	batches, overflow, end := ix.queue, ix.overflow, ix.durableEnd
	ix.queue, ix.queued, ix.overflow = nil, 0, false
	ix.mu.Unlock()
	err := ix.apply(batches, overflow, end)
	ix.fail(err)
	if err != nil {
		// What was dropped is read from the log on the next round.
		ix.mu.Lock()
		ix.overflow = true
		ix.mu.Unlock()
		time.AfterFunc(retryInterval, func() {
			select {
			case ix.kick <- struct{}{}:
			default:
			}
		})
	}
	ix.publish()
}

// apply indexes batches that continue the index exactly; on the first
// that does not (a gap, a rotated or rewritten file), or after an
// overflow, it reads the log up to end instead.
func (ix *Index) apply(batches []batch, overflow bool, end int64) error {
	recs := ix.work.recs[:0]
	defer func() {
		clear(recs) // not to hold the batches' lines
		ix.work.recs = recs[:0]
	}()
	tipSeq, tipEnd := ix.st.LastSeq, ix.st.end()
	for _, b := range batches {
		if !collect(b, &recs, &tipSeq, &tipEnd) {
			overflow = true
			break
		}
	}
	if err := ix.commit(recs); err != nil {
		return err
	}
	if overflow {
		return ix.catchUp(end)
	}
	return nil
}

// collect appends the records of b after the tip, and reports false if b
// does not continue it (seq or offset).
func collect(b batch, recs *[]pending, tipSeq *uint64, tipEnd *int64) bool {
	off, seq, rest := b.offset, b.first, b.lines
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return false
		}
		if seq > *tipSeq {
			if (*tipSeq != 0 && seq != *tipSeq+1) || off != *tipEnd {
				return false
			}
			l, err := parseLine(rest[:i])
			if err != nil || l.seq != seq {
				return false
			}
			*recs = append(*recs, pending{line: l, loc: location{offset: off, length: i}})
			*tipSeq, *tipEnd = seq, off+int64(i)+1
		}
		off += int64(i) + 1
		seq++
		rest = rest[i+1:]
	}
	return true
}

// catchUp indexes the log's records after the index's last one, reading
// the file up to limit (its end if negative). A log that is not the one
// indexed — rotated, truncated, or replaced — is indexed anew.
func (ix *Index) catchUp(limit int64) error {
	f, err := os.Open(ix.logPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("auditindex: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("auditindex: %w", err)
	}
	size := fi.Size()
	if limit >= 0 && limit < size {
		size = limit
	}
	from, err := ix.resume(f)
	if err != nil || from >= size {
		return err
	}
	if size-from > bulkBytes {
		start := time.Now()
		ix.opts.Logger.Info("audit index: indexing the log", "path", ix.logPath, "bytes", size-from)
		if err := ix.bulk(func() error { return ix.scan(f, from, size) }); err != nil {
			return err
		}
		ix.opts.Logger.Info("audit index: up to date with the log", "path", ix.logPath, "seq", ix.st.LastSeq, "took", time.Since(start).Round(time.Millisecond))
		return nil
	}
	return ix.scan(f, from, size)
}

// resume returns where in f the records after the index's last one start.
// If that record is not where the index says, the index is emptied and
// f read from its start.
func (ix *Index) resume(f *os.File) (int64, error) {
	st := &ix.st
	if st.LastSeq == 0 {
		return 0, nil
	}
	buf := make([]byte, st.LastLength+1)
	if _, err := f.ReadAt(buf, st.LastOffset); err == nil && buf[st.LastLength] == '\n' {
		if l, err := parseLine(buf[:st.LastLength]); err == nil && l.seq == st.LastSeq && string(l.hash) == st.LastHash {
			return st.end(), nil
		}
	}
	ix.opts.Logger.Warn("audit index: the log is not the one indexed (rotated, truncated or replaced); indexing it anew",
		"path", ix.logPath, "indexedSeq", st.LastSeq)
	return 0, ix.reset()
}

// reset empties the index.
func (ix *Index) reset() error {
	st := state{Version: formatVersion, Synced: true}
	err := ix.update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketPostings, bucketRecent, bucketEvents} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Delete(keyMerged); err != nil {
			return err
		}
		return putState(tx, &st)
	})
	if err != nil {
		return fmt.Errorf("auditindex: empty the index: %w", err)
	}
	ix.st = st
	ix.publish()
	return nil
}

// bulk runs load, a long read of the log during which lookups do not wait
// for the index, and flushes the file when it ends.
func (ix *Index) bulk(load func() error) error {
	ix.loading.Store(true)
	defer ix.loading.Store(false)
	err := load()
	return errors.Join(err, ix.sync())
}

// scan indexes the complete records of f between from and to, a chunk per
// transaction, and stops early (with what it has committed) on Close.
func (ix *Index) scan(f *os.File, from, to int64) error {
	r := bufio.NewReaderSize(io.NewSectionReader(f, from, to-from), audit.MaxRecordSize+4096)
	off, tip := from, ix.st.LastSeq
	recs := make([]pending, 0, chunkRecords)
	for {
		b, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Longer than any record: skip the line.
			n := int64(len(b))
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = r.ReadSlice('\n')
				n += int64(len(b))
			}
			if err != nil {
				break
			}
			off += n
			continue
		}
		if err != nil {
			break // the end, or a line still being written
		}
		// A copy: the reader reuses b.
		if l, perr := parseLine(bytes.Clone(b[:len(b)-1])); perr == nil && l.seq > tip {
			recs = append(recs, pending{line: l, loc: location{offset: off, length: len(b) - 1}})
			tip = l.seq
		}
		off += int64(len(b))
		if len(recs) == chunkRecords {
			if err := ix.commit(recs); err != nil {
				return err
			}
			ix.publish()
			recs = recs[:0]
			select {
			case <-ix.stop:
				return nil // the rest is read at the next start
			default:
			}
		}
	}
	return ix.commit(recs)
}
