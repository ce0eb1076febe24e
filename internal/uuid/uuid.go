// Package uuid makes the UUIDs of the API: random (version 4) ones, the form
// AWS uses for key IDs and request IDs, and time-ordered (version 7) ones
// for audit event IDs; and it reads and prints the 16 bytes of such ids,
// the form stores keep them in.
package uuid

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// New returns a random version 4 UUID in its 36-character text form.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	return format(&b)
}

// NewTimeOrdered returns a version 7 UUID (RFC 9562) for an event at t:
// 48 bits of Unix milliseconds, then 74 random bits. IDs made later sort
// after earlier ones, so an index keyed by them grows at its end instead
// of at random pages.
func NewTimeOrdered(t time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[6:])
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(max(t.UnixMilli(), 0)))
	copy(b[:6], ms[2:])
	b[6] = b[6]&0x0f | 0x70
	return format(&b)
}

// format sets the variant bits of b and returns its text form.
func format(b *[16]byte) string {
	b[8] = b[8]&0x3f | 0x80
	return Format(*b)
}

// Format returns the lowercase text form of b's 16 bytes as they are.
func Format(b [16]byte) string {
	var out [36]byte
	return string(Append(out[:0], b))
}

// Append appends the lowercase text form of b to dst.
func Append(dst []byte, b [16]byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, 36)...)
	out := dst[n:]
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:])
	return dst
}

// Parse returns the 16 bytes of s when s is a UUID in lowercase text form,
// the form kmsd makes, so that Format gives s back; any other text, upper
// case included, is refused, since it would not round-trip. Stores keep
// such ids in 16 bytes instead of 36.
func Parse(s string) (b [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, false
	}
	var digits [32]byte
	n := copy(digits[:], s[0:8])
	n += copy(digits[n:], s[9:13])
	n += copy(digits[n:], s[14:18])
	n += copy(digits[n:], s[19:23])
	copy(digits[n:], s[24:36])
	for _, c := range digits {
		if 'A' <= c && c <= 'F' {
			return b, false
		}
	}
	if _, err := hex.Decode(b[:], digits[:]); err != nil {
		return [16]byte{}, false
	}
	return b, true
}

// Valid reports whether s is a UUID in canonical lower- or upper-case form.
func Valid(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
