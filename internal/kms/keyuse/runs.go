package keyuse

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/kmsd/kmsd/internal/store"
)

// Runs of key uses. Writing a use where BucketLastUsage keeps it rewrites
// the store page that holds it; among a million keys used at random, a
// flush of 250,000 uses rewrites nearly every page of the bucket, and
// reads each one first. A flush of at least usageRunAt uses instead
// writes them, in key order, as runs: each run up to usageRunMax uses in
// chunks of RunChunk, appended to BucketChunks in one transaction, and
// listed in BucketRuns. The runs of one flush cover disjoint ranges of
// keys. Once the runs hold usageMergeUses uses, number usageMergeRuns, or
// the oldest is MergeAge old, or when a flush finds no use to write, a
// merge (Merge, a job after each flush, run by one node of a cluster)
// reads them all in key order and writes each key's latest use into
// BucketLastUsage: a page it rewrites then takes the uses of several
// flushes, and a key used in several of them is written once. LastUse reads
// a key's use in memory, in BucketLastUsage, and in each run whose keys
// span it, and reports the latest.
//
// A key deleted while one of its uses waits in a run: the merge drops the
// use (the key is gone from Config.Keys), and so would a read (the key is
// not found). A key made again with the same id (a replica in a Region
// whose replica was deleted, a seeded id) must not inherit it, so
// deleting a key notes when in BucketGone (Deleted), and a use from before
// then is ignored. The note compares the deleting node's clock with the
// using node's, so a key made again within the nodes' clock skew of its
// deletion may lose a use made in that span. A note is kept for GoneKept:
// by then the flush that took a use before the key went has long written
// its run (a flush that fails puts its uses back, and the key's deletion
// dropped them from memory), and the merges since have read it.

const (
	usageRunAt     = 4096      // a flush of fewer uses writes them in place
	usageRunMax    = 32768     // uses per run: a transaction of about 2 MB
	usageMergeUses = 1_000_000 // runs holding this many uses are merged
	usageMergeRuns = 64        // or this many runs
)

// RunChunk is how many uses a chunk of a run holds: what a read of one
// use decodes.
const RunChunk = 128

// MergeAge is the age of the oldest run at which the runs are merged,
// however few.
const MergeAge = time.Hour

// GoneKept is how long a deletion note is kept.
const GoneKept = 24 * time.Hour

// runID names a run: when it was written (big endian, so runs list in
// that order) and 8 random bytes, unique across nodes.
type runID [16]byte

func newRunID(now time.Time) runID {
	var id runID
	binary.BigEndian.PutUint64(id[:], uint64(now.UnixNano()))
	_, _ = rand.Read(id[8:]) // never fails
	return id
}

// runInfo is a run's entry in BucketRuns: how many uses it holds, and
// the store keys of its first and last.
type runInfo struct {
	id          runID
	uses        int
	first, last []byte
}

func (r *runInfo) value() []byte {
	b := binary.AppendUvarint(nil, uint64(r.uses))
	b = binary.AppendUvarint(b, uint64(len(r.first)))
	return append(append(b, r.first...), r.last...)
}

func parseRunInfo(k, v []byte) (runInfo, error) {
	var r runInfo
	uses, n := binary.Uvarint(v)
	if len(k) != len(r.id) || n <= 0 {
		return r, fmt.Errorf("malformed run %x", k)
	}
	v = v[n:]
	first, n := binary.Uvarint(v)
	if n <= 0 || first > uint64(len(v)-n) {
		return r, fmt.Errorf("malformed run %x", k)
	}
	copy(r.id[:], k)
	r.uses = int(uses)
	r.first, r.last = v[n:n+int(first)], v[n+int(first):]
	return r, nil
}

// spans reports whether the run's keys span key.
func (r *runInfo) spans(key []byte) bool {
	return bytes.Compare(key, r.first) >= 0 && bytes.Compare(key, r.last) <= 0
}

// chunkKey is the key of the chunk of run id whose last use is last's:
// with the 0x00 after it, the first chunk key of a run that sorts after
// id | k is that of the chunk holding k, if any does (see runUseOf).
func chunkKey(id runID, last []byte) []byte {
	return append(append(append(make([]byte, 0, len(id)+len(last)+1), id[:]...), last...), 0)
}

// A chunk is its uses in key order, each as
// uvarint(len(store key)) | store key | uvarint(len(use)) | the use in
// its compact stored form (codec.go).
func appendChunkUse(b, key, stored []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = binary.AppendUvarint(append(b, key...), uint64(len(stored)))
	return append(b, stored...)
}

// runUse is one use of a run, in the chunk's memory.
type runUse struct {
	key, stored []byte
	at          int64
}

func parseChunk(b []byte) ([]runUse, error) {
	if len(b) == 0 {
		return nil, errors.New("empty chunk of key uses")
	}
	var out []runUse
	r := compactReader{b: b, ok: true}
	for r.ok && len(r.b) > 0 {
		key, stored := r.text(), r.text()
		p, ok := parseCompact(stored)
		if !r.ok || !ok || len(key) == 0 {
			return nil, errors.New("malformed chunk of key uses")
		}
		out = append(out, runUse{key: key, stored: stored, at: p.at})
	}
	return out, nil
}

// putRun writes ps, in key order and of distinct keys, as run id.
func putRun(tx store.Tx, id runID, ps []pendingUse) error {
	var chunk, buf []byte
	for i, p := range ps {
		buf = p.use.appendStored(buf[:0])
		chunk = appendChunkUse(chunk, p.key, buf)
		if (i+1)%RunChunk == 0 || i == len(ps)-1 {
			if err := tx.Put(BucketChunks, chunkKey(id, p.key), chunk); err != nil {
				return err
			}
			chunk = chunk[:0]
		}
	}
	info := runInfo{uses: len(ps), first: ps[0].key, last: ps[len(ps)-1].key}
	return tx.Put(BucketRuns, id[:], info.value())
}

func listRuns(tx store.Tx) ([]runInfo, error) {
	kvs, err := tx.Scan(BucketRuns, nil, nil, 0)
	if err != nil {
		return nil, err
	}
	runs := make([]runInfo, len(kvs))
	for i, kv := range kvs {
		if runs[i], err = parseRunInfo(kv.Key, kv.Value); err != nil {
			return nil, err
		}
	}
	return runs, nil
}

// goneAt returns when the key stored under key was last deleted, in Unix
// nanoseconds; 0 if it never was (or long ago).
func goneAt(tx store.Tx, key []byte) (int64, error) {
	b, err := store.Lend(tx, BucketGone, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(b) != 8:
		return 0, fmt.Errorf("malformed deletion time of %s", key)
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// runUseOf returns key's latest use in the runs, in its stored form
// (nil: none), leaving out any from before the key was last deleted.
func runUseOf(tx store.Tx, key []byte) ([]byte, int64, error) {
	runs, err := listRuns(tx)
	if err != nil || len(runs) == 0 {
		return nil, 0, err
	}
	gone, err := goneAt(tx, key)
	if err != nil {
		return nil, 0, err
	}
	var best []byte
	bestAt := gone
	for _, r := range runs {
		if !r.spans(key) {
			continue
		}
		seek := append(r.id[:len(r.id):len(r.id)], key...)
		kvs, err := tx.Scan(BucketChunks, r.id[:], seek, 1)
		if err != nil {
			return nil, 0, err
		}
		if len(kvs) == 0 {
			continue
		}
		uses, err := parseChunk(kvs[0].Value)
		if err != nil {
			return nil, 0, fmt.Errorf("run %x: %w", r.id, err)
		}
		for _, u := range uses {
			if bytes.Equal(u.key, key) && u.at > bestAt {
				best, bestAt = u.stored, u.at
			}
		}
	}
	return best, bestAt, nil
}
