package auditindex

import (
	"bytes"
	"errors"
	"io"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// scanner reads the members of a record the index needs, as decodeEvent
// would (same names, nulls, duplicates, type errors and string
// unescaping), without decoding the rest: it walks the record's tokens and
// skips every other member. It is reused from record to record.
type scanner struct {
	dec   jsontext.Decoder
	in    bytes.Buffer
	body  []byte
	arena []byte // unescaped strings; never grows while a record is read
	f     fields
}

// fields are the members of one record the index needs; each slice is of
// the record or of the scanner's arena, valid until the next scan.
type fields struct {
	eventID, eventName, eventSource, eventTime, region, account []byte
	userType, userARN, accessKeyID, userName                    []byte
	readOnly                                                    bool
	resources                                                   []resourceFields
}

type resourceFields struct{ typ, arn []byte }

var errNotEvent = errors.New("auditindex: record is not an event")

// scan reads body's fields into s.f: by the fast path if it can, or
// else with the decoder.
func (s *scanner) scan(body []byte) error {
	if s.fast(body) {
		return nil
	}
	return s.decode(body)
}

// decode reads body's fields into s.f with the decoder.
func (s *scanner) decode(body []byte) error {
	s.body, s.arena = body, s.arena[:0]
	s.f = fields{resources: s.f.resources[:0]}
	s.in = *bytes.NewBuffer(body)
	s.dec.Reset(&s.in, lenient)
	err := s.object(func(name []byte) error {
		switch string(name) {
		case "eventID":
			return s.str(&s.f.eventID)
		case "eventName":
			return s.str(&s.f.eventName)
		case "eventSource":
			return s.str(&s.f.eventSource)
		case "eventTime":
			return s.str(&s.f.eventTime)
		case "readOnly":
			return s.boolean(&s.f.readOnly)
		case "awsRegion":
			return s.str(&s.f.region)
		case "recipientAccountId":
			return s.str(&s.f.account)
		case "userIdentity":
			return s.userIdentity()
		case "resources":
			return s.resourceList()
		}
		return s.dec.SkipValue()
	}, func() { s.f = fields{resources: s.f.resources[:0]} })
	if err != nil {
		return err
	}
	if _, err := s.dec.ReadToken(); err != io.EOF {
		return errNotEvent // more than one value
	}
	return nil
}

func (s *scanner) userIdentity() error {
	f := &s.f
	return s.object(func(name []byte) error {
		switch string(name) {
		case "type":
			return s.str(&f.userType)
		case "arn":
			return s.str(&f.userARN)
		case "accessKeyId":
			return s.str(&f.accessKeyID)
		case "userName":
			return s.str(&f.userName)
		}
		return s.dec.SkipValue()
	}, func() { f.userType, f.userARN, f.accessKeyID, f.userName = nil, nil, nil, nil })
}

// resourceList reads the resources array; a later one replaces an
// earlier one, and null empties it.
func (s *scanner) resourceList() error {
	f := &s.f
	f.resources = f.resources[:0]
	tok, err := s.dec.ReadToken()
	if err != nil {
		return err
	}
	switch tok.Kind() {
	case 'n':
		return nil
	case '[':
	default:
		return errNotEvent
	}
	for s.dec.PeekKind() != ']' {
		f.resources = append(f.resources, resourceFields{})
		r := &f.resources[len(f.resources)-1]
		err := s.object(func(name []byte) error {
			switch string(name) {
			case "type":
				return s.str(&r.typ)
			case "ARN":
				return s.str(&r.arn)
			}
			return s.dec.SkipValue()
		}, func() { *r = resourceFields{} })
		if err != nil {
			return err
		}
	}
	_, err = s.dec.ReadToken()
	return err
}

// object reads an object, calling member for each member name (which
// must read the value), or calls null for a null.
func (s *scanner) object(member func(name []byte) error, null func()) error {
	tok, err := s.dec.ReadToken()
	if err != nil {
		return err
	}
	switch tok.Kind() {
	case 'n':
		null()
		return nil
	case '{':
	default:
		return errNotEvent
	}
	for s.dec.PeekKind() != '}' {
		v, err := s.dec.ReadValue()
		if err != nil {
			return err
		}
		if err := member(s.unquote(v)); err != nil {
			return err
		}
	}
	_, err = s.dec.ReadToken()
	return err
}

// str reads a string (null is empty) into dst.
func (s *scanner) str(dst *[]byte) error {
	v, err := s.dec.ReadValue()
	if err != nil {
		return err
	}
	switch v.Kind() {
	case 'n':
		*dst = nil
	case '"':
		*dst = s.unquote(v)
	default:
		return errNotEvent
	}
	return nil
}

func (s *scanner) boolean(dst *bool) error {
	v, err := s.dec.ReadValue()
	if err != nil {
		return err
	}
	switch v.Kind() {
	case 'n', 'f':
		*dst = false
	case 't':
		*dst = true
	default:
		return errNotEvent
	}
	return nil
}

// unquote returns the string the JSON string v (just read) holds: its
// bytes in the record when it has no escapes and is valid UTF-8, or else
// unescaped as the JSON decoder does (invalid bytes become U+FFFD).
func (s *scanner) unquote(v jsontext.Value) []byte {
	end := int(s.dec.InputOffset())
	raw := s.body[end-len(v)+1 : end-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return raw
	}
	if len(s.arena) == 0 && cap(s.arena) < 3*len(s.body) {
		// Room for every string of the record: unescaping never grows
		// one by more than 3 times, and the arena must not move.
		s.arena = make([]byte, 0, 3*len(s.body))
	}
	start := len(s.arena)
	s.arena, _ = jsontext.AppendUnquote(s.arena, v)
	return s.arena[start:len(s.arena):len(s.arena)]
}

// eventTime parses the record's eventTime as decodeEvent does, without
// an allocation for kmsd's own form (2006-01-02T15:04:05Z).
func eventTime(b []byte) (time.Time, error) {
	if len(b) == 20 && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' && b[19] == 'Z' {
		y, ok1 := digits(b[0:4])
		mo, ok2 := digits(b[5:7])
		d, ok3 := digits(b[8:10])
		h, ok4 := digits(b[11:13])
		mi, ok5 := digits(b[14:16])
		sec, ok6 := digits(b[17:19])
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && mo >= 1 && mo <= 12 && d >= 1 && h < 24 && mi < 60 && sec < 60 {
			t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
			if t.Day() == d {
				return t, nil
			}
		}
	}
	t, err := time.Parse(time.RFC3339, string(b))
	return t.UTC(), err
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// rawTerm is a term of fields: an attribute's code and value.
type rawTerm struct {
	code  byte
	value []byte
}

var (
	trueValue  = []byte("true")
	falseValue = []byte("false")
	rootValue  = []byte("root")
)

// terms appends to dst the terms Event.terms lists for the same record:
// the trail's, then each attribute value once, none empty.
func (f *fields) terms(dst []rawTerm) []rawTerm {
	dst = append(dst, rawTerm{code: 0})
	add := func(a Attr, v []byte) {
		if len(v) == 0 {
			return
		}
		c, _ := a.code()
		for _, t := range dst[1:] {
			if t.code == c && bytes.Equal(t.value, v) {
				return
			}
		}
		dst = append(dst, rawTerm{c, v})
	}
	add(EventName, f.eventName)
	add(EventSource, f.eventSource)
	if f.readOnly {
		add(ReadOnly, trueValue)
	} else {
		add(ReadOnly, falseValue)
	}
	add(Username, f.username())
	add(AccessKeyID, f.accessKeyID)
	for _, r := range f.resources {
		add(ResourceType, r.typ)
		add(ResourceName, r.arn)
	}
	return dst
}

// username is username of the record's identity.
func (f *fields) username() []byte {
	switch string(f.userType) {
	case "Root":
		return rootValue
	case "AssumedRole":
		if i := bytes.LastIndexByte(f.userARN, '/'); i >= 0 {
			return f.userARN[i+1:]
		}
	}
	return f.userName
}
