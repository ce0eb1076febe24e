package audit

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/kmsd/kmsd/internal/jsonstr"
)

// The encoder below writes exactly the bytes encoding/json.Marshal writes
// for eventWire: the same member order, omitempty rules, string escaping
// (HTML-safe, with U+2028/U+2029 escaped and invalid UTF-8 replaced by
// U+FFFD), number formatting and sorted map keys. Values in the free-form
// maps of a type it does not know are encoded by encoding/json itself.
// encode_test.go proves the equivalence.

// encBufPool holds scratch buffers for MarshalJSON.
var encBufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 2048)
	return &b
}}

// maxPooledBuf is the largest scratch buffer returned to encBufPool.
const maxPooledBuf = 64 << 10

// maxNesting is how deeply the free-form maps are walked by hand; deeper
// values (and cyclic ones) are left to encoding/json.
const maxNesting = 32

// appendJSON appends the event's JSON encoding to b.
func (e *Event) appendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"eventVersion":`...)
	b = jsonstr.Append(b, e.EventVersion)
	b = append(b, `,"userIdentity":`...)
	b = e.UserIdentity.appendJSON(b)
	b = append(b, `,"eventTime":`...)
	b = appendTime(b, e)
	b = append(b, `,"eventSource":`...)
	b = jsonstr.Append(b, e.EventSource)
	b = append(b, `,"eventName":`...)
	b = jsonstr.Append(b, e.EventName)
	b = append(b, `,"awsRegion":`...)
	b = jsonstr.Append(b, e.AWSRegion)
	b = append(b, `,"sourceIPAddress":`...)
	b = jsonstr.Append(b, e.SourceIPAddress)
	b = append(b, `,"userAgent":`...)
	b = jsonstr.Append(b, e.UserAgent)
	if e.ErrorCode != "" {
		b = append(b, `,"errorCode":`...)
		b = jsonstr.Append(b, e.ErrorCode)
	}
	if e.ErrorMessage != "" {
		b = append(b, `,"errorMessage":`...)
		b = jsonstr.Append(b, e.ErrorMessage)
	}
	b = append(b, `,"requestParameters":`...)
	if b, err = appendMapAny(b, e.RequestParameters, 0); err != nil {
		return nil, err
	}
	b = append(b, `,"responseElements":`...)
	if b, err = appendMapAny(b, e.ResponseElements, 0); err != nil {
		return nil, err
	}
	if len(e.AdditionalEventData) != 0 {
		b = append(b, `,"additionalEventData":`...)
		if b, err = appendMapAny(b, e.AdditionalEventData, 0); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"requestID":`...)
	b = jsonstr.Append(b, e.RequestID)
	b = append(b, `,"eventID":`...)
	b = jsonstr.Append(b, e.EventID)
	b = append(b, `,"readOnly":`...)
	b = strconv.AppendBool(b, e.ReadOnly)
	if len(e.Resources) != 0 {
		b = append(b, `,"resources":[`...)
		for i := range e.Resources {
			if i > 0 {
				b = append(b, ',')
			}
			r := &e.Resources[i]
			b = append(b, `{"accountId":`...)
			b = jsonstr.Append(b, r.AccountID)
			b = append(b, `,"type":`...)
			b = jsonstr.Append(b, r.Type)
			b = append(b, `,"ARN":`...)
			b = jsonstr.Append(b, r.ARN)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"eventType":`...)
	b = jsonstr.Append(b, e.EventType)
	b = append(b, `,"managementEvent":`...)
	b = strconv.AppendBool(b, e.ManagementEvent)
	b = append(b, `,"recipientAccountId":`...)
	b = jsonstr.Append(b, e.RecipientAccountID)
	b = append(b, `,"eventCategory":`...)
	b = jsonstr.Append(b, e.EventCategory)
	if t := e.TLSDetails; t != nil {
		b = append(b, `,"tlsDetails":{"tlsVersion":`...)
		b = jsonstr.Append(b, t.TLSVersion)
		b = append(b, `,"cipherSuite":`...)
		b = jsonstr.Append(b, t.CipherSuite)
		b = append(b, `,"clientProvidedHostHeader":`...)
		b = jsonstr.Append(b, t.ClientProvidedHostHeader)
		if t.KeyExchange != "" {
			b = append(b, `,"keyExchange":`...)
			b = jsonstr.Append(b, t.KeyExchange)
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// appendJSON appends the userIdentity object to b.
func (u *UserIdentity) appendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = jsonstr.Append(b, u.Type)
	b = appendOptString(b, `,"principalId":`, u.PrincipalID)
	b = appendOptString(b, `,"arn":`, u.ARN)
	b = appendOptString(b, `,"accountId":`, u.AccountID)
	b = appendOptString(b, `,"accessKeyId":`, u.AccessKeyID)
	b = appendOptString(b, `,"userName":`, u.UserName)
	b = appendOptString(b, `,"invokedBy":`, u.InvokedBy)
	if sc := u.SessionContext; sc != nil {
		b = append(b, `,"sessionContext":{`...)
		if si := sc.SessionIssuer; si != nil {
			b = append(b, `"sessionIssuer":{"type":`...)
			b = jsonstr.Append(b, si.Type)
			b = appendOptString(b, `,"principalId":`, si.PrincipalID)
			b = appendOptString(b, `,"arn":`, si.ARN)
			b = appendOptString(b, `,"accountId":`, si.AccountID)
			b = appendOptString(b, `,"userName":`, si.UserName)
			b = append(b, "},"...)
		}
		b = append(b, `"attributes":{"creationDate":`...)
		b = jsonstr.Append(b, sc.Attributes.CreationDate)
		b = append(b, `,"mfaAuthenticated":`...)
		b = jsonstr.Append(b, sc.Attributes.MFAAuthenticated)
		b = append(b, '}')
		b = appendOptString(b, `,"sourceIdentity":`, sc.SourceIdentity)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendOptString appends name and s unless s is empty (omitempty).
func appendOptString(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, name...)
	return jsonstr.Append(b, s)
}

// appendTime appends eventTime in timeLayout, quoted.
func appendTime(b []byte, e *Event) []byte {
	t := e.EventTime.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return jsonstr.Append(b, t.Format(timeLayout))
	}
	hour, minute, sec := t.Clock()
	b = append(b, '"',
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), 'Z', '"')
	return b
}

// member is one map entry.
type member[V any] struct {
	key string
	val V
}

// sortedMembers returns m's entries in encoding/json's order (by key, byte
// by byte), using buf when it is large enough.
func sortedMembers[V any](buf []member[V], m map[string]V) []member[V] {
	ms := buf[:0]
	for k, v := range m {
		ms = append(ms, member[V]{k, v})
	}
	slices.SortFunc(ms, func(a, b member[V]) int { return strings.Compare(a.key, b.key) })
	return ms
}

// appendMapAny appends m as encoding/json would: null when nil, members in
// key order.
func appendMapAny(b []byte, m map[string]any, depth int) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	if depth > maxNesting {
		return appendFallback(b, m)
	}
	var buf [16]member[any]
	b = append(b, '{')
	var err error
	for i, e := range sortedMembers(buf[:], m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonstr.Append(b, e.key)
		b = append(b, ':')
		if b, err = appendValue(b, e.val, depth+1); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendMapString appends m as encoding/json would.
func appendMapString(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var buf [16]member[string]
	b = append(b, '{')
	for i, e := range sortedMembers(buf[:], m) {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonstr.Append(b, e.key)
		b = append(b, ':')
		b = jsonstr.Append(b, e.val)
	}
	return append(b, '}')
}

// appendValue appends v as encoding/json would.
func appendValue(b []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return jsonstr.Append(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case map[string]any:
		return appendMapAny(b, v, depth)
	case map[string]string:
		return appendMapString(b, v), nil
	case []any:
		if v == nil {
			return append(b, "null"...), nil
		}
		if depth > maxNesting {
			return appendFallback(b, v)
		}
		b = append(b, '[')
		var err error
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, x, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case []string:
		if v == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, s)
		}
		return append(b, ']'), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return appendFallback(b, v)
		}
		return appendFloat(b, v, 64), nil
	case float32:
		f := float64(v)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return appendFallback(b, v)
		}
		return appendFloat(b, f, 32), nil
	}
	return appendFallback(b, v)
}

// appendFloat formats f as encoding/json does (ES6 number formatting).
func appendFloat(b []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// e-09 becomes e-9.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendFallback appends v encoded by encoding/json.
func appendFallback(b []byte, v any) ([]byte, error) {
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}
