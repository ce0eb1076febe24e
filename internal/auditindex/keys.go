package auditindex

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"time"

	"github.com/kmsd/kmsd/internal/audit"
)

// Attr is an attribute events are looked up by; the names are CloudTrail's
// LookupAttributeKey values.
type Attr string

// The attributes of LookupEvents.
const (
	EventID      Attr = "EventId"
	EventName    Attr = "EventName"
	ReadOnly     Attr = "ReadOnly"
	Username     Attr = "Username"
	ResourceType Attr = "ResourceType"
	ResourceName Attr = "ResourceName"
	EventSource  Attr = "EventSource"
	AccessKeyID  Attr = "AccessKeyId"

	// all is the attribute every event of a trail has: a lookup by no
	// attribute reads its postings.
	all Attr = ""
)

// code is an attribute's byte in term keys. Codes are part of the file
// format: never renumber them.
func (a Attr) code() (byte, bool) {
	switch a {
	case all:
		return 0, true
	case EventName:
		return 1, true
	case EventSource:
		return 2, true
	case ReadOnly:
		return 3, true
	case Username:
		return 4, true
	case AccessKeyID:
		return 5, true
	case ResourceType:
		return 6, true
	case ResourceName:
		return 7, true
	}
	return 0, false
}

// unposted reports whether the term with code and value has no postings
// of its own: KMS's event source is every kmsd event's, so a lookup by it
// reads the trail's postings (of every event) and keeps the events that
// have it, at the same cost, and the index writes a posting less per
// event.
func unposted[S ~string | ~[]byte](code byte, value S) bool {
	c, _ := EventSource.code()
	return code == c && string(value) == audit.EventSource
}

// term is one attribute value of one event.
type term struct {
	attr  Attr
	value string
}

// termKey names a term within a trail (account and Region):
// uvarint(len(account)) account uvarint(len(region)) region code value.
// Postings are keyed by its hash (see termHash).
func termKey(dst []byte, account, region string, t term) []byte {
	c, _ := t.attr.code()
	return appendTermKey(dst, account, region, c, t.value)
}

func appendTermKey[S ~string | ~[]byte](dst []byte, account, region S, code byte, value S) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(account)))
	dst = append(dst, account...)
	dst = binary.AppendUvarint(dst, uint64(len(region)))
	dst = append(dst, region...)
	dst = append(dst, code)
	return append(dst, value...)
}

// termHash is the hash of a term key that keys the term's postings: the
// first 8 bytes of its SHA-256, so that indexing a record needs no look-up
// of its terms, and no one finds a value whose postings would land among
// another term's but by a search of about 2^64 hashes. Terms whose hashes
// collide share postings; lookups keep the events that have the term.
func termHash(key []byte) uint64 {
	s := sha256.Sum256(key)
	return binary.BigEndian.Uint64(s[:8])
}

// A posting is one event's entry under one of its terms.
type posting struct {
	time uint32
	seq  uint64
	loc  location
}

// Postings are stored in groups: the postings of one term hash and one
// second (event time) that one commit writes, at most maxGroup of them,
// share a key: be64(term hash) | be32(event time, Unix seconds) |
// be64(first seq). Its value lists the group's postings in log order,
// each as uvarint(seq - first seq) and the record's location, an event
// once even if several of its terms have the hash. A hash's groups sort
// by time and then by log order; groups of the same hash and second hold
// disjoint runs of seqs (commits index the log in order), so walking a
// hash's keys backwards and each group's postings backwards lists its
// events newest first. One hash's groups are one contiguous range.
const (
	hashSize      = 8
	postingSuffix = 4 + 8
)

// maxGroup bounds a group, so that its value fits a page.
const maxGroup = 128

func appendGroupEntry(dst []byte, delta uint64, loc location) []byte {
	return loc.append(binary.AppendUvarint(dst, delta))
}

// groupEntries appends the postings of a group with key time t and first
// seq to dst, in log order.
func groupEntries(dst []posting, t uint32, first uint64, v []byte) ([]posting, bool) {
	for len(v) > 0 {
		d, n := binary.Uvarint(v)
		if n <= 0 || d > math.MaxUint64-first {
			return dst, false
		}
		loc, rest, ok := parseLocation(v[n:])
		if !ok {
			return dst, false
		}
		dst = append(dst, posting{time: t, seq: first + d, loc: loc})
		v = rest
	}
	return dst, true
}

func postingKey(dst []byte, h uint64, t uint32, seq uint64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, h)
	dst = binary.BigEndian.AppendUint32(dst, t)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// splitPosting returns a posting key's time and seq.
func splitPosting(k []byte) (t uint32, seq uint64) {
	s := k[len(k)-postingSuffix:]
	return binary.BigEndian.Uint32(s), binary.BigEndian.Uint64(s[4:])
}

// unixSeconds is t as a posting stores it, clamped to the 32-bit range
// (1970 to 2106).
func unixSeconds(t time.Time) uint32 {
	s := t.Unix()
	switch {
	case s < 0:
		return 0
	case s > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(s)
}

// maxRecordLine bounds a record's line, so that a damaged index never
// makes a lookup read (and allocate) more.
const maxRecordLine = audit.MaxRecordSize + 4096

// location is where a record lies in the log file: enough to read it
// without a search. A posting's value, and part of an event ID's.
type location struct {
	offset int64
	length int // without the newline
}

func (l location) append(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(l.offset))
	return binary.AppendUvarint(dst, uint64(l.length))
}

func parseLocation(b []byte) (location, []byte, bool) {
	off, n := binary.Uvarint(b)
	if n <= 0 || off > math.MaxInt64 {
		return location{}, nil, false
	}
	b = b[n:]
	length, n := binary.Uvarint(b)
	if n <= 0 || length > maxRecordLine {
		return location{}, nil, false
	}
	return location{offset: int64(off), length: int(length)}, b[n:], true
}

// eventKey is an event ID's key in the events bucket: 0 and the 16 bytes
// of a canonical UUID (as kmsd writes them), or 1 and the ID as written.
func eventKey[S ~string | ~[]byte](dst []byte, id S) []byte {
	if u, ok := lowerUUID(id); ok {
		return append(append(dst, 0), u[:]...)
	}
	return append(append(dst, 1), id...)
}

// lowerUUID returns the bytes of a UUID in canonical lower-case form
// (8-4-4-4-12 hex digits); any other spelling is another ID. A record
// costs one: it decodes digit pairs by table, where copying the digits
// out to hex.Decode took several times as long.
func lowerUUID[S ~string | ~[]byte](s S) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	var bad byte
	for i, at := range uuidPairs {
		hi, lo := lowerHex[s[at]], lowerHex[s[at+1]]
		bad |= hi | lo
		u[i] = hi<<4 | lo&0xf
	}
	return u, bad&0x80 == 0
}

// uuidPairs are where the 16 digit pairs of a canonical UUID start.
var uuidPairs = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// lowerHex maps a lower-case hex digit to its value, any other byte to
// 0x80.
var lowerHex = func() (t [256]byte) {
	for c := range t {
		switch {
		case '0' <= c && c <= '9':
			t[c] = byte(c - '0')
		case 'a' <= c && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		default:
			t[c] = 0x80
		}
	}
	return t
}()

// An event ID's value is be64(seq) | be32(time) | location.
func eventValue(dst []byte, seq uint64, t uint32, loc location) []byte {
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = binary.BigEndian.AppendUint32(dst, t)
	return loc.append(dst)
}

func parseEventValue(b []byte) (seq uint64, t uint32, loc location, ok bool) {
	if len(b) < 12 {
		return 0, 0, location{}, false
	}
	seq, t = binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:])
	loc, _, ok = parseLocation(b[12:])
	return seq, t, loc, ok
}
