package cluster

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/store/postgres"
)

// channel is the notification channel of cache invalidations.
const channel = "invalidate"

// maxPayload keeps a notification under PostgreSQL's limit of 8000 bytes;
// a transaction that stales more than fits sends a flush instead.
const maxPayload = 7000

// Cache is a node's in-memory copy of some records of the store.
type Cache interface {
	// InvalidateCache drops the entries a KeysOf named.
	InvalidateCache(keys ...string)
	// FlushCache drops every entry.
	FlushCache()
	// GateCache makes the cache serve its entries only while fresh
	// reports true, and bypass them (reading the store) otherwise.
	GateCache(fresh func() bool)
}

// KeysOf returns the entries of a cache that a write of the record at
// bucket and key makes stale; none for a record the cache does not hold.
type KeysOf func(bucket, key []byte) []string

// Layouts names the caches of a node and says which records each holds;
// the names travel in notifications, so every node must use the same.
type Layouts map[string]KeysOf

// Caches names the caches of a node, with the names of its Layouts.
type Caches map[string]Cache

// message is one notification: the stale entries of each cache, or a
// flush of everything.
type message struct {
	Keys  map[string][]string `json:"k,omitempty"`
	Flush bool                `json:"flush,omitempty"`
}

// payload encodes what the writes make stale; "" when nothing is.
func (l Layouts) payload(writes []write) string {
	m := message{Keys: map[string][]string{}}
	seen := map[string]bool{}
	for _, w := range writes {
		for name, keysOf := range l {
			for _, k := range keysOf(w.bucket, w.key) {
				if !seen[name+"\x00"+k] {
					seen[name+"\x00"+k] = true
					m.Keys[name] = append(m.Keys[name], k)
				}
			}
		}
	}
	if len(m.Keys) == 0 {
		return ""
	}
	b, err := json.Marshal(m)
	if err != nil || len(b) > maxPayload {
		return `{"flush":true}`
	}
	return string(b)
}

// apply drops what a notification names; one it cannot read flushes
// everything.
func (c Caches) apply(payload string) {
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.Flush {
		c.flush()
		return
	}
	for name, keys := range m.Keys {
		if cache, ok := c[name]; ok {
			cache.InvalidateCache(keys...)
		} else {
			// A node that knows a cache this one does not: stay safe.
			c.flush()
			return
		}
	}
}

func (c Caches) flush() {
	for _, cache := range c {
		cache.FlushCache()
	}
}

// Store is the shared store as a node uses it: every committed
// transaction that writes a cached record notifies every node, in the
// same transaction.
type Store struct {
	*postgres.Store
	layouts Layouts
}

// NewStore wraps st so that its writes invalidate, on every node, the
// cache entries that layouts map them to.
func NewStore(st *postgres.Store, layouts Layouts) *Store {
	return &Store{Store: st, layouts: layouts}
}

// notifier is the backend's Tx extension that queues a notification.
type notifier interface {
	Notify(name, payload string) error
}

// Update runs fn and, if it wrote records that some cache holds, queues
// the notification that names them before the transaction commits.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, func(tx store.Tx) error {
		rec := &recordingTx{Tx: tx}
		if err := fn(rec); err != nil {
			return err
		}
		p := s.layouts.payload(rec.writes)
		if p == "" {
			return nil
		}
		n, ok := tx.(notifier)
		if !ok {
			return errors.New("cluster: the store backend cannot notify other nodes")
		}
		return n.Notify(channel, p)
	})
}

type write struct{ bucket, key []byte }

// recordingTx notes the records a transaction writes.
type recordingTx struct {
	store.Tx
	writes []write
}

func (t *recordingTx) Put(bucket, key, value []byte) error {
	t.note(bucket, key)
	return t.Tx.Put(bucket, key, value)
}

func (t *recordingTx) Delete(bucket, key []byte) error {
	t.note(bucket, key)
	return t.Tx.Delete(bucket, key)
}

func (t *recordingTx) note(bucket, key []byte) {
	t.writes = append(t.writes, write{bytesClone(bucket), bytesClone(key)})
}

// Buckets passes the backend's bucket listing through (store/sealed uses
// it to check that a store is empty).
func (t *recordingTx) Buckets() ([][]byte, error) {
	l, ok := t.Tx.(interface{ Buckets() ([][]byte, error) })
	if !ok {
		return nil, errors.New("cluster: the store backend cannot list its buckets")
	}
	return l.Buckets()
}

func bytesClone(b []byte) []byte { return append([]byte(nil), b...) }
