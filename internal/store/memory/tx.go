package memory

import (
	"maps"
	"slices"
	"strings"

	"github.com/kmsd/kmsd/internal/store"
)

// tx reads a snapshot and, in an Update, keeps its writes in an overlay:
// bucket → key → value, a nil value marking a deletion.
type tx struct {
	base     *snapshot
	writes   map[string]map[string][]byte
	writable bool
	ended    bool
}

func (t *tx) end() { t.ended = true }

func (t *tx) Get(bucket, key []byte) ([]byte, error) {
	if t.ended {
		return nil, errTxEnded
	}
	if v, ok := t.writes[string(bucket)][string(key)]; ok {
		if v == nil {
			return nil, store.ErrNotFound
		}
		return clone(v), nil
	}
	if v, ok := t.base.buckets[string(bucket)].get(string(key)); ok {
		return clone(v), nil
	}
	return nil, store.ErrNotFound
}

func (t *tx) Put(bucket, key, value []byte) error {
	if err := t.writableErr(); err != nil {
		return err
	}
	if len(bucket) == 0 || len(key) == 0 {
		return errEmptyName
	}
	t.overlay(string(bucket))[string(key)] = clone(value)
	return nil
}

func (t *tx) Delete(bucket, key []byte) error {
	if err := t.writableErr(); err != nil {
		return err
	}
	t.overlay(string(bucket))[string(key)] = nil
	return nil
}

func (t *tx) overlay(bucket string) map[string][]byte {
	w := t.writes[bucket]
	if w == nil {
		w = map[string][]byte{}
		t.writes[bucket] = w
	}
	return w
}

// Scan merges the snapshot's entries with the transaction's own writes,
// in key order, from the first key after `after` that has the prefix.
func (t *tx) Scan(bucket, prefix, after []byte, limit int) ([]store.KV, error) {
	if t.ended {
		return nil, errTxEnded
	}
	p := string(prefix)
	start := p
	exclusive := len(after) > 0 && string(after) >= p
	if exclusive {
		start = string(after)
	}
	base := t.base.buckets[string(bucket)]
	i := base.find(start)
	w := t.writes[string(bucket)]
	var own []string
	for k := range w {
		if k >= start && strings.HasPrefix(k, p) {
			own = append(own, k)
		}
	}
	slices.Sort(own)
	j := 0

	var out []store.KV
	emit := func(k string, v []byte) bool {
		if exclusive && k == start {
			return true
		}
		out = append(out, store.KV{Key: []byte(k), Value: clone(v)})
		return limit <= 0 || len(out) < limit
	}
	for {
		var baseKey string
		haveBase := i < len(base) && strings.HasPrefix(base[i].key, p)
		if haveBase {
			baseKey = base[i].key
		}
		haveOwn := j < len(own)
		var more bool
		switch {
		case !haveBase && !haveOwn:
			return out, nil
		case haveOwn && (!haveBase || own[j] <= baseKey):
			if haveBase && own[j] == baseKey {
				i++ // this transaction replaced or deleted it
			}
			k := own[j]
			j++
			if v := w[k]; v != nil {
				more = emit(k, v)
			} else {
				more = true
			}
		default:
			more = emit(baseKey, base[i].value)
			i++
		}
		if !more {
			return out, nil
		}
	}
}

// Buckets returns the names of the buckets that hold at least one key, in
// byte order. Like the bbolt backend's, it is not part of store.Tx: the
// sealed store finds it by assertion to check or adopt a whole store.
func (t *tx) Buckets() ([][]byte, error) {
	if t.ended {
		return nil, errTxEnded
	}
	names := map[string]bool{}
	for name := range t.base.buckets {
		names[name] = true
	}
	for name := range t.writes {
		kvs, err := t.Scan([]byte(name), nil, nil, 1)
		if err != nil {
			return nil, err
		}
		names[name] = len(kvs) > 0
	}
	var out [][]byte
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if names[name] {
			out = append(out, []byte(name))
		}
	}
	return out, nil
}

func (t *tx) writableErr() error {
	if t.ended {
		return errTxEnded
	}
	if !t.writable {
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
