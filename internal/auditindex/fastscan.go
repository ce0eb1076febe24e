package auditindex

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// The scanner's fast path reads a record of the plain kind kmsd writes
// byte by byte, as the decoder would, and gives up on anything else: an
// escape in a member's name or in a value the index keeps, invalid UTF-8
// in such a value, a surrogate escape, a value of the wrong type, deep
// nesting, or anything that is not JSON. The decoder then reads the
// record, so what the fast path accepts it reads exactly as the decoder
// does, and the rest is left to it.

// maxFastDepth bounds the nesting the fast path follows.
const maxFastDepth = 64

// lexer walks a record for the fast path.
type lexer struct {
	b     []byte
	i     int
	depth int
}

// plainByte marks the bytes a string holds as they are: not a quote, a
// backslash or a control character.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// fast reads body's fields into s.f, and reports false if the decoder
// must read it instead.
func (s *scanner) fast(body []byte) bool {
	l := lexer{b: body}
	f := &s.f
	*f = fields{resources: f.resources[:0]}
	more, ok := l.enter('{', '}')
	for ok && more {
		var name []byte
		if name, ok = l.name(); !ok {
			return false
		}
		switch string(name) {
		case "eventID":
			ok = l.str(&f.eventID)
		case "eventName":
			ok = l.str(&f.eventName)
		case "eventSource":
			ok = l.str(&f.eventSource)
		case "eventTime":
			ok = l.str(&f.eventTime)
		case "readOnly":
			ok = l.boolean(&f.readOnly)
		case "awsRegion":
			ok = l.str(&f.region)
		case "recipientAccountId":
			ok = l.str(&f.account)
		case "userIdentity":
			ok = l.userIdentity(f)
		case "resources":
			ok = l.resources(f)
		default:
			ok = l.skip()
		}
		if ok {
			more, ok = l.next('}')
		}
	}
	if !ok {
		return false
	}
	l.ws()
	return l.i == len(l.b) // one value, and nothing after it
}

func (l *lexer) userIdentity(f *fields) bool {
	if l.peek() == 'n' {
		f.userType, f.userARN, f.accessKeyID, f.userName = nil, nil, nil, nil
		return l.literal("null")
	}
	more, ok := l.enter('{', '}')
	for ok && more {
		var name []byte
		if name, ok = l.name(); !ok {
			return false
		}
		switch string(name) {
		case "type":
			ok = l.str(&f.userType)
		case "arn":
			ok = l.str(&f.userARN)
		case "accessKeyId":
			ok = l.str(&f.accessKeyID)
		case "userName":
			ok = l.str(&f.userName)
		default:
			ok = l.skip()
		}
		if ok {
			more, ok = l.next('}')
		}
	}
	return ok
}

// resources reads the resources array; a later one replaces an earlier
// one, null empties it, and a null element is a resource of no fields.
func (l *lexer) resources(f *fields) bool {
	f.resources = f.resources[:0]
	if l.peek() == 'n' {
		return l.literal("null")
	}
	more, ok := l.enter('[', ']')
	for ok && more {
		f.resources = append(f.resources, resourceFields{})
		r := &f.resources[len(f.resources)-1]
		if l.peek() == 'n' {
			ok = l.literal("null")
		} else {
			more, ok = l.enter('{', '}')
			for ok && more {
				var name []byte
				if name, ok = l.name(); !ok {
					return false
				}
				switch string(name) {
				case "type":
					ok = l.str(&r.typ)
				case "ARN":
					ok = l.str(&r.arn)
				default:
					ok = l.skip()
				}
				if ok {
					more, ok = l.next('}')
				}
			}
		}
		if ok {
			more, ok = l.next(']')
		}
	}
	return ok
}

func (l *lexer) ws() {
	for l.i < len(l.b) {
		switch l.b[l.i] {
		case ' ', '\t', '\n', '\r':
			l.i++
		default:
			return
		}
	}
}

// peek returns the byte after any whitespace, 0 at the end.
func (l *lexer) peek() byte {
	l.ws()
	if l.i < len(l.b) {
		return l.b[l.i]
	}
	return 0
}

// enter reads the start of an object or array, and reports whether a
// member or element follows it.
func (l *lexer) enter(open, close byte) (more, ok bool) {
	if l.peek() != open || l.depth == maxFastDepth {
		return false, false
	}
	l.i++
	l.depth++
	if l.peek() == close {
		l.i++
		l.depth--
		return false, true
	}
	return true, true
}

// next reads what follows a member or element: a comma and another, or
// the end of the object or array.
func (l *lexer) next(close byte) (more, ok bool) {
	switch l.peek() {
	case ',':
		l.i++
		return true, true
	case close:
		l.i++
		l.depth--
		return false, true
	}
	return false, false
}

// name reads a member's name, without escapes, and its colon.
func (l *lexer) name() ([]byte, bool) {
	if l.peek() != '"' {
		return nil, false
	}
	raw, escaped, ok := l.string()
	if !ok || escaped || l.peek() != ':' {
		return nil, false
	}
	l.i++
	return raw, true
}

// str reads a string the index keeps (null is empty): one without escapes
// and of valid UTF-8, which the decoder would give as it is.
func (l *lexer) str(dst *[]byte) bool {
	switch l.peek() {
	case 'n':
		*dst = nil
		return l.literal("null")
	case '"':
		raw, escaped, ok := l.string()
		if !ok || escaped || !utf8.Valid(raw) {
			return false
		}
		*dst = raw
		return true
	}
	return false
}

func (l *lexer) boolean(dst *bool) bool {
	switch l.peek() {
	case 'n':
		*dst = false
		return l.literal("null")
	case 'f':
		*dst = false
		return l.literal("false")
	case 't':
		*dst = true
		return l.literal("true")
	}
	return false
}

func (l *lexer) literal(lit string) bool {
	if !bytes.HasPrefix(l.b[l.i:], []byte(lit)) {
		return false
	}
	l.i += len(lit)
	return true
}

// string reads a string from its opening quote: its bytes between the
// quotes, and whether they hold escapes (all valid, none a surrogate's).
func (l *lexer) string() (raw []byte, escaped, ok bool) {
	b := l.b
	start := l.i + 1
	for i := start; ; {
		if i = plainRun(b, i); i == len(b) {
			return nil, false, false
		}
		c := b[i]
		switch c {
		case '"':
			l.i = i + 1
			return b[start:i], escaped, true
		case '\\':
			n := escapeLen(b[i:])
			if n == 0 {
				return nil, false, false
			}
			escaped = true
			i += n
		default:
			return nil, false, false // a control character
		}
	}
}

// plainRun returns the index of the first byte of b at or after i that
// is not plain (see plainByte), or len(b).
func plainRun(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(b) && plainByte[b[i]] {
		i++
	}
	return i
}

// special marks the bytes of x (eight bytes of a string, the first
// lowest) that are a quote, a backslash or a control character: its
// lowest set bit is the high bit of the first such byte. (A byte above
// one may be marked too: only such a byte makes a subtraction borrow
// from the byte above it.)
func special(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	return ((x-ones*0x20)&^x | (quote-ones)&^quote | (backslash-ones)&^backslash) & highs
}

// escapeLen is the length of the escape b starts with; 0 for an invalid
// one, or one of a surrogate (which the decoder judges in pairs).
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(b) < 6 {
			return 0
		}
		r := 0
		for _, c := range b[2:6] {
			switch {
			case '0' <= c && c <= '9':
				r = r<<4 | int(c-'0')
			case 'a' <= c|0x20 && c|0x20 <= 'f':
				r = r<<4 | int(c|0x20-'a'+10)
			default:
				return 0
			}
		}
		if 0xd800 <= r && r <= 0xdfff {
			return 0
		}
		return 6
	}
	return 0
}

// skip reads a value the index does not keep.
func (l *lexer) skip() bool {
	switch c := l.peek(); {
	case c == '"':
		_, _, ok := l.string()
		return ok
	case c == '{':
		more, ok := l.enter('{', '}')
		for ok && more {
			if ok = l.peek() == '"'; !ok {
				break
			}
			if _, _, ok = l.string(); ok && l.peek() == ':' {
				l.i++
				if ok = l.skip(); ok {
					more, ok = l.next('}')
				}
			} else {
				ok = false
			}
		}
		return ok
	case c == '[':
		more, ok := l.enter('[', ']')
		for ok && more {
			if ok = l.skip(); ok {
				more, ok = l.next(']')
			}
		}
		return ok
	case c == 't':
		return l.literal("true")
	case c == 'f':
		return l.literal("false")
	case c == 'n':
		return l.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return l.number()
	}
	return false
}

// number reads a number as JSON spells it.
func (l *lexer) number() bool {
	b, i := l.b, l.i
	digits := func() int {
		j := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	l.i = i
	return true
}
