package bolt

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/kmsd/kmsd/internal/store"
	"go.etcd.io/bbolt"
)

var (
	errTxEnded    = errors.New("store/bolt: transaction used after it ended")
	errTxReadOnly = errors.New("store/bolt: write in a read-only transaction")
)

// tx adapts a bbolt transaction to store.Tx.
type tx struct {
	btx *bbolt.Tx
	// ended is set when fn returns. A bbolt Tx used after its end reads
	// unmapped or recycled memory, so a leaked store.Tx must fail instead.
	ended bool
	// undo, in a group commit's Update, records what Put and Delete
	// replace, so a failed fn's writes can be taken back (group.go).
	undo *undoLog
}

func (t *tx) end() { t.ended = true }

func (t *tx) Get(bucket, key []byte) ([]byte, error) {
	v, err := t.Lend(bucket, key)
	if err != nil {
		return nil, err
	}
	return clone(v), nil
}

// Lend is Get without the copy: the value lies in the mapped file, which
// is read-only, or in a node this transaction changed (store.Lender).
func (t *tx) Lend(bucket, key []byte) ([]byte, error) {
	if t.ended {
		return nil, errTxEnded
	}
	b := t.btx.Bucket(bucket)
	if b == nil {
		return nil, store.ErrNotFound
	}
	// Stored values are never nil (Put stores a non-nil copy), so nil means
	// absent.
	v := b.Get(key)
	if v == nil {
		return nil, store.ErrNotFound
	}
	return v, nil
}

func (t *tx) Put(bucket, key, value []byte) error {
	if err := t.writable(); err != nil {
		return err
	}
	b := t.btx.Bucket(bucket)
	if b == nil {
		var err error
		if b, err = t.btx.CreateBucket(bucket); err != nil {
			return fmt.Errorf("store/bolt: put in bucket %q: %w", bucket, err)
		}
		if t.undo != nil {
			t.undo.created = append(t.undo.created, clone(bucket))
		}
	} else if t.undo != nil {
		t.undo.saw(bucket, b, key)
	}
	// bbolt keeps a reference to value until commit, and a nil value would
	// read back as absent: store a private, non-nil copy.
	if err := b.Put(key, clone(value)); err != nil {
		return fmt.Errorf("store/bolt: put in bucket %q: %w", bucket, err)
	}
	return nil
}

func (t *tx) Delete(bucket, key []byte) error {
	if err := t.writable(); err != nil {
		return err
	}
	b := t.btx.Bucket(bucket)
	if b == nil {
		return nil
	}
	if t.undo != nil {
		t.undo.saw(bucket, b, key)
	}
	if err := b.Delete(key); err != nil {
		return fmt.Errorf("store/bolt: delete in bucket %q: %w", bucket, err)
	}
	return nil
}

func (t *tx) Scan(bucket, prefix, after []byte, limit int) ([]store.KV, error) {
	if t.ended {
		return nil, errTxEnded
	}
	b := t.btx.Bucket(bucket)
	if b == nil {
		return nil, nil
	}
	c := b.Cursor()
	var k, v []byte
	if len(after) > 0 && bytes.Compare(after, prefix) >= 0 {
		k, v = c.Seek(after)
		if bytes.Equal(k, after) {
			k, v = c.Next()
		}
	} else {
		k, v = c.Seek(prefix)
	}
	var out []store.KV
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if v == nil {
			continue // a nested bucket; this package never makes one
		}
		out = append(out, store.KV{Key: clone(k), Value: clone(v)})
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

// Buckets returns the names of the buckets that exist, in byte order. It is
// not part of store.Tx: only a tool that must visit every record (adopting a
// store into a new record format) needs it, and finds it by assertion.
func (t *tx) Buckets() ([][]byte, error) {
	if t.ended {
		return nil, errTxEnded
	}
	var names [][]byte
	err := t.btx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
		names = append(names, clone(name))
		return nil
	})
	return names, err
}

func (t *tx) writable() error {
	if t.ended {
		return errTxEnded
	}
	if !t.btx.Writable() {
		return errTxReadOnly
	}
	return nil
}

// clone returns a non-nil copy of b.
func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}
