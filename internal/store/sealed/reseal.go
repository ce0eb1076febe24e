package sealed

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/kmsd/kmsd/internal/store"
)

// ResealFunc returns the new value of a record (its sealed fields moved to
// the active root key), or nil to keep the value as it is.
type ResealFunc func(bucket, key, value []byte) ([]byte, error)

// ResealStats counts what Reseal did.
type ResealStats struct {
	Records   int // records read
	Rewritten int // records written back: tagged anew, or changed by fn
}

// Reseal moves every record to the keyring's active root key: it reads
// every record of every bucket and writes back, one page per transaction,
// each one that is tagged under another root key or whose value fn
// changes. A record already tagged under the active key that fn keeps is
// not written, so Reseal run again after an interruption passes quickly
// over what is done and resumes where it stopped. committed is called
// after each page's transaction commits; an error from it stops Reseal.
func (s *Store) Reseal(ctx context.Context, page int, fn ResealFunc, committed func(ResealStats) error) (ResealStats, error) {
	var st ResealStats
	if page <= 0 {
		return st, errors.New("store/sealed: Reseal needs a positive page size")
	}
	var names [][]byte
	err := s.inner.View(ctx, func(t store.Tx) (err error) {
		names, err = buckets(t)
		return err
	})
	if err != nil {
		return st, err
	}
	active := s.ring.ActiveID()
	for _, b := range names {
		if bytes.Equal(b, metaBucket) {
			continue
		}
		var after []byte
		for more := true; more; {
			var done ResealStats
			err := s.inner.Update(ctx, func(t store.Tx) error {
				done = ResealStats{}
				kvs, err := t.Scan(b, nil, after, page)
				if err != nil {
					return err
				}
				more = len(kvs) == page
				if len(kvs) > 0 {
					after = bytes.Clone(kvs[len(kvs)-1].Key)
				}
				for _, kv := range kvs {
					done.Records++
					value, err := s.openRecord(b, kv.Key, kv.Value)
					if err != nil {
						return err
					}
					nv, err := fn(b, kv.Key, value)
					if err != nil {
						return fmt.Errorf("store/sealed: reseal bucket %q, key %q: %w", b, kv.Key, err)
					}
					if nv == nil && binary.BigEndian.Uint32(kv.Value[1:headerSize]) == active {
						continue
					}
					if nv == nil {
						nv = value
					}
					rec, err := s.sealRecord(b, kv.Key, nv)
					if err != nil {
						return err
					}
					if err := t.Put(b, kv.Key, rec); err != nil {
						return err
					}
					done.Rewritten++
				}
				return nil
			})
			if err != nil {
				return st, err
			}
			st.Records += done.Records
			st.Rewritten += done.Rewritten
			if done.Rewritten > 0 && committed != nil {
				if err := committed(st); err != nil {
					return st, err
				}
			}
		}
	}
	return st, nil
}

// ForgetRootKey removes root key id from the root keys the store records,
// so that a keyring without it opens the store. In the same transaction it
// checks that no record is tagged under id, and calls check on every
// record's value, which refuses one that still holds something sealed
// under id. The active key cannot be forgotten.
func (s *Store) ForgetRootKey(ctx context.Context, id uint32, check func(bucket, key, value []byte) error) error {
	if id == s.ring.ActiveID() {
		return fmt.Errorf("store/sealed: root key %d is the active key", id)
	}
	return s.inner.Update(ctx, func(t store.Tx) error {
		c, err := readCheck(t)
		if err != nil {
			return err
		}
		names, err := buckets(t)
		if err != nil {
			return err
		}
		for _, b := range names {
			if bytes.Equal(b, metaBucket) {
				continue
			}
			if err := s.checkBucket(t, b, id, check); err != nil {
				return err
			}
		}
		c.RootKeys = slices.DeleteFunc(c.RootKeys, func(k checkKeyRecord) bool { return k.ID == id })
		return writeCheck(t, c)
	})
}

func (s *Store) checkBucket(t store.Tx, b []byte, id uint32, check func(bucket, key, value []byte) error) error {
	var after []byte
	for {
		kvs, err := t.Scan(b, nil, after, adoptPage)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			value, err := s.openRecord(b, kv.Key, kv.Value)
			if err != nil {
				return err
			}
			if binary.BigEndian.Uint32(kv.Value[1:headerSize]) == id {
				return fmt.Errorf("store/sealed: bucket %q, key %q is still authenticated under root key %d: run the rotation to its end first", b, kv.Key, id)
			}
			if check != nil {
				if err := check(b, kv.Key, value); err != nil {
					return err
				}
			}
		}
		if len(kvs) < adoptPage {
			return nil
		}
		after = kvs[len(kvs)-1].Key
	}
}

// RecordKeyring adds to the store's record the root keys the keyring has
// gained since the store was opened (a rotation), so that a keyring
// without them is refused from now on rather than at the next start.
func (s *Store) RecordKeyring(ctx context.Context) error {
	found, err := keyringFingerprints(s.ring)
	if err != nil {
		return err
	}
	return s.inner.Update(ctx, func(t store.Tx) error {
		c, err := readCheck(t)
		if err != nil {
			return err
		}
		ok, grew := c.match(found)
		if !ok {
			return errors.New("store/sealed: the root keyring no longer holds every root key the store records")
		}
		if grew {
			return writeCheck(t, c)
		}
		return nil
	})
}
