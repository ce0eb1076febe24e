package kms

import (
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
)

// How the usage tracker (cache_usage.go) names keys and operations without
// pointers, so that the collector need not scan what it holds.

// useKey is a key's store key (partition | key id) in 24 bytes: the
// partition's number and the key id's 16 bytes, for the two forms kmsd
// gives key ids (a lowercase UUID, and mrk- with 32 lowercase hex digits).
// A key id in any other form is numbered whole (kindWhole).
type useKey struct {
	part uint32 // number of the partition, or of the whole store key
	kind uint8
	id   [16]byte
}

const (
	kindUUID  = iota // id is a lowercase UUID's bytes
	kindMRK          // id is the bytes of the hex digits after "mrk-"
	kindWhole        // part numbers the whole store key; id is unused
)

// keyIDLen is the length of both forms of key id useKey holds.
const keyIDLen = 36

// useKeyOf names key, a store key, with names' numbers.
func (n *names) useKeyOf(key string) useKey {
	if len(key) > keyIDLen {
		part, id := key[:len(key)-keyIDLen], key[len(key)-keyIDLen:]
		if c := newCompactID(id); c.isUUID {
			return useKey{part: n.number(part), kind: kindUUID, id: c.uuid}
		}
		if k, ok := mrkBytes(id); ok {
			return useKey{part: n.number(part), kind: kindMRK, id: k}
		}
	}
	return useKey{part: n.number(key), kind: kindWhole}
}

// appendStoreKey appends the store key k names.
func (n *names) appendStoreKey(dst []byte, k useKey) []byte {
	dst = append(dst, n.name(k.part)...)
	switch k.kind {
	case kindUUID:
		dst = compactID{uuid: k.id, isUUID: true}.appendUUID(dst)
	case kindMRK:
		dst = hex.AppendEncode(append(dst, "mrk-"...), k.id[:])
	}
	return dst
}

// mrkBytes reads a multi-Region key id, mrk- and 32 lowercase hex digits.
func mrkBytes(id string) ([16]byte, bool) {
	var b [16]byte
	rest, ok := strings.CutPrefix(id, "mrk-")
	if !ok || len(rest) != 2*len(b) {
		return b, false
	}
	for i := range b {
		hi, ok1 := lowerHex(rest[2*i])
		lo, ok2 := lowerHex(rest[2*i+1])
		if !ok1 || !ok2 {
			return b, false
		}
		b[i] = hi<<4 | lo
	}
	return b, true
}

// names numbers strings: partitions and operation names, which are few,
// and the store keys of key ids in neither of kmsd's forms, which no
// store made by kmsd holds. Numbers are never reused; looking one up
// takes no lock.
type names struct {
	mu    sync.Mutex
	table atomic.Pointer[nameTable]
}

type nameTable struct {
	numbers map[string]uint32
	names   []string
}

func (n *names) number(s string) uint32 {
	if t := n.table.Load(); t != nil {
		if i, ok := t.numbers[s]; ok {
			return i
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	old := n.table.Load()
	if old == nil {
		old = &nameTable{}
	}
	if i, ok := old.numbers[s]; ok {
		return i
	}
	s = strings.Clone(s) // s may be part of a larger string
	t := &nameTable{numbers: make(map[string]uint32, len(old.names)+1), names: append(old.names[:len(old.names):len(old.names)], s)}
	for name, i := range old.numbers {
		t.numbers[name] = i
	}
	i := uint32(len(old.names))
	t.numbers[s] = i
	n.table.Store(t)
	return i
}

func (n *names) name(i uint32) string { return n.table.Load().names[i] }
