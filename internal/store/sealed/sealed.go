package sealed

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"sync"

	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// Keyring is the root of trust as this package needs it: which root keys
// exist, their check values, and keys derived from them. seal.FileSeal
// satisfies it; the root keys themselves never leave it.
type Keyring interface {
	ActiveID() uint32
	KeyIDs() []uint32
	CheckValue(id uint32) ([]byte, error)
	DeriveKey(id uint32, purpose string) (secret.Bytes, error)
}

// Store is a store.Store whose every value is authenticated. It is safe for
// concurrent use.
type Store struct {
	inner   store.Store
	ring    Keyring
	purpose string // DeriveKey purpose of record keys, naming this store

	mu   sync.RWMutex
	keys map[uint32]*recordKey // per root key id, derived once
}

// recordKey is the record key of one root key and its keyed HMAC states:
// a state, Reset after use, goes back to its keyed start without hashing
// the key's pads again, so a read costs the record's blocks only.
type recordKey struct {
	key  secret.Bytes
	macs sync.Pool
}

func (k *recordKey) get() hash.Hash {
	if m, ok := k.macs.Get().(hash.Hash); ok {
		return m
	}
	return hmac.New(sha256.New, k.key)
}

func (k *recordKey) put(m hash.Hash) {
	m.Reset()
	k.macs.Put(m)
}

var _ store.Store = (*Store)(nil)

func newStore(inner store.Store, ring Keyring, storeID []byte) *Store {
	return &Store{
		inner:   inner,
		ring:    ring,
		purpose: fmt.Sprintf("store-record/v1|%x", storeID),
		keys:    make(map[uint32]*recordKey),
	}
}

// mac returns the record key of root key id.
func (s *Store) mac(id uint32) (*recordKey, error) {
	s.mu.RLock()
	k, ok := s.keys[id]
	s.mu.RUnlock()
	if ok {
		return k, nil
	}
	derived, err := s.ring.DeriveKey(id, s.purpose)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[id]; ok {
		derived.Wipe()
		return k, nil
	}
	k = &recordKey{key: derived}
	s.keys[id] = k
	return k, nil
}

// View runs fn on a consistent snapshot; see store.Store.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.inner.View(ctx, func(t store.Tx) error { return fn(&tx{s: s, inner: t}) })
}

// Update runs fn atomically; see store.Store.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.inner.Update(ctx, func(t store.Tx) error { return fn(&tx{s: s, inner: t}) })
}

// Close closes the underlying store, which waits for running transactions,
// then forgets the derived keys.
func (s *Store) Close() error {
	err := s.inner.Close()
	s.mu.Lock()
	for id, k := range s.keys {
		k.key.Wipe()
		delete(s.keys, id)
	}
	s.mu.Unlock()
	return err
}

// tx authenticates what it reads and tags what it writes.
type tx struct {
	s     *Store
	inner store.Tx
}

func (t *tx) Get(bucket, key []byte) ([]byte, error) {
	if err := checkBucket(bucket); err != nil {
		return nil, err
	}
	rec, err := t.inner.Get(bucket, key)
	if err != nil {
		return nil, err
	}
	return t.s.openRecord(bucket, key, rec)
}

// Lend is Get of the inner store's own memory when it lends it
// (store.Lender): the record is authenticated where it lies.
func (t *tx) Lend(bucket, key []byte) ([]byte, error) {
	if err := checkBucket(bucket); err != nil {
		return nil, err
	}
	rec, err := store.Lend(t.inner, bucket, key)
	if err != nil {
		return nil, err
	}
	return t.s.openRecord(bucket, key, rec)
}

// Has is the inner store's: whether a record is present needs no
// decryption.
func (t *tx) Has(bucket, key []byte) (bool, error) {
	if err := checkBucket(bucket); err != nil {
		return false, err
	}
	return store.Has(t.inner, bucket, key)
}

func (t *tx) Put(bucket, key, value []byte) error {
	if err := checkBucket(bucket); err != nil {
		return err
	}
	rec, err := t.s.sealRecord(bucket, key, value)
	if err != nil {
		return err
	}
	return t.inner.Put(bucket, key, rec)
}

func (t *tx) Delete(bucket, key []byte) error {
	if err := checkBucket(bucket); err != nil {
		return err
	}
	return t.inner.Delete(bucket, key)
}

func (t *tx) Scan(bucket, prefix, after []byte, limit int) ([]store.KV, error) {
	if err := checkBucket(bucket); err != nil {
		return nil, err
	}
	kvs, err := t.inner.Scan(bucket, prefix, after, limit)
	if err != nil {
		return nil, err
	}
	for i := range kvs {
		if kvs[i].Value, err = t.s.openRecord(bucket, kvs[i].Key, kvs[i].Value); err != nil {
			return nil, err
		}
	}
	return kvs, nil
}

// checkBucket keeps callers out of the bucket that holds the store's check
// record, so they can neither read nor replace it.
func checkBucket(bucket []byte) error {
	if bytes.Equal(bucket, metaBucket) {
		return fmt.Errorf("store/sealed: bucket %q is reserved for the store's root keyring check", bucket)
	}
	return nil
}
