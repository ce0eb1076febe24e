// Package jsonstr writes JSON strings exactly as encoding/json does, for
// the hand-written and generated encoders of the audit records and the
// API's answers, which must match encoding/json byte for byte.
package jsonstr

import "unicode/utf8"

// plainASCII is 1 for the bytes encoding/json writes into a string
// unchanged (its htmlSafeSet): printable ASCII other than ", \, <, > and &.
var plainASCII = func() (t [256]uint8) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = 1
	}
	for _, c := range `"\<>&` {
		t[c] = 0
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// Append appends s as a JSON string, escaped exactly as
// encoding/json escapes it with HTML escaping on.
func Append(b []byte, s string) []byte {
	t := &plainASCII
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if t[s[i]]&t[s[i+1]]&t[s[i+2]]&t[s[i+3]]&t[s[i+4]]&t[s[i+5]]&t[s[i+6]]&t[s[i+7]] == 0 {
			return appendSlow(b, s, i)
		}
	}
	for ; i < len(s); i++ {
		if t[s[i]] == 0 {
			return appendSlow(b, s, i)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendSlow is Append for a string whose first i bytes are
// plain ASCII.
func appendSlow(b []byte, s string, i int) []byte {
	b = append(b, '"')
	start := 0
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if plainASCII[c] != 0 {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
