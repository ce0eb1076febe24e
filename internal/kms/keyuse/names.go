package keyuse

import (
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kmsd/kmsd/internal/uuid"
)

// How the Tracker (tracker.go) names keys and operations without
// pointers, so that the collector need not scan what it holds.

// useKey is a key's store key (partition | key id) in 28 bytes: the
// partition's number and the 16 bytes of the key id's hex digits, for the
// key ids kmsd accepts (a UUID, its letters in either case, and mrk- with
// 32 lowercase hex digits). A key id in any other form is numbered whole
// (kindWhole): no key of the store has one, so such numbers are only
// made by a lookup that finds nothing.
type useKey struct {
	part  uint32 // number of the partition, or of the whole store key
	upper uint32 // bit d set: hex digit d is an upper-case letter
	id    [16]byte
	kind  uint8
}

const (
	kindUUID  = iota // id holds a UUID's digits
	kindMRK          // id holds the digits after "mrk-"
	kindWhole        // part numbers the whole store key; id is unused
)

// keyIDLen is the length of both forms of key id useKey holds.
const keyIDLen = 36

// useKeyOf names key, a store key, with names' numbers.
func (n *names) useKeyOf(key string) useKey {
	if len(key) > keyIDLen {
		part, id := key[:len(key)-keyIDLen], key[len(key)-keyIDLen:]
		if k, ok := parseKeyID(id); ok {
			k.part = n.number(part)
			return k
		}
	}
	return useKey{part: n.number(key), kind: kindWhole}
}

// parseKeyID reads the digits of a key id of either form useKey holds.
func parseKeyID(id string) (useKey, bool) {
	k := useKey{kind: kindUUID}
	digits, dashes := id, true
	if rest, ok := strings.CutPrefix(id, "mrk-"); ok {
		k.kind, digits, dashes = kindMRK, rest, false
	}
	d := 0
	for i := 0; i < len(digits); i++ {
		ch := digits[i]
		if dashes && isUUIDDash(i) {
			if ch != '-' {
				return k, false
			}
			continue
		}
		v, ok := lowerHex(ch)
		if !ok && k.kind == kindUUID && 'A' <= ch && ch <= 'F' {
			v, ok = ch-'A'+10, true
			k.upper |= 1 << d
		}
		if !ok || d == 2*len(k.id) {
			return k, false
		}
		k.id[d/2] |= v << (4 * (1 - d%2))
		d++
	}
	return k, d == 2*len(k.id)
}

// appendStoreKey appends the store key k names.
func (n *names) appendStoreKey(dst []byte, k useKey) []byte {
	dst = append(dst, n.name(k.part)...)
	switch k.kind {
	case kindUUID:
		start := len(dst)
		dst = uuid.Append(dst, k.id)
		for i, d := start, 0; i < len(dst); i++ {
			if isUUIDDash(i - start) {
				continue
			}
			if k.upper&(1<<d) != 0 {
				dst[i] -= 'a' - 'A'
			}
			d++
		}
	case kindMRK:
		dst = hex.AppendEncode(append(dst, "mrk-"...), k.id[:])
	}
	return dst
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

func isUUIDDash(i int) bool { return i == 8 || i == 13 || i == 18 || i == 23 }

// lowerHex is the value of a lowercase hex digit.
func lowerHex(ch byte) (byte, bool) {
	switch {
	case '0' <= ch && ch <= '9':
		return ch - '0', true
	case 'a' <= ch && ch <= 'f':
		return ch - 'a' + 10, true
	}
	return 0, false
}
