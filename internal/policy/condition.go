package policy

import (
	"bytes"
	"encoding/base64"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

type opKind uint8

const (
	opStringEquals opKind = iota
	opStringEqualsIgnoreCase
	opStringLike
	opNumericEquals
	opNumericLessThan
	opNumericLessThanEquals
	opNumericGreaterThan
	opNumericGreaterThanEquals
	opDateEquals
	opDateLessThan
	opDateLessThanEquals
	opDateGreaterThan
	opDateGreaterThanEquals
	opBool
	opBinaryEquals
	opIPAddress
	opArnLike
	opNull
)

// operators maps each condition operator name to its base test and
// whether the result is negated. ArnEquals and ArnLike are the same test:
// AWS documents both as field-wise matching with wildcards.
func operator(name string) (op opKind, negated, ok bool) {
	switch name {
	case "StringEquals":
		return opStringEquals, false, true
	case "StringNotEquals":
		return opStringEquals, true, true
	case "StringEqualsIgnoreCase":
		return opStringEqualsIgnoreCase, false, true
	case "StringNotEqualsIgnoreCase":
		return opStringEqualsIgnoreCase, true, true
	case "StringLike":
		return opStringLike, false, true
	case "StringNotLike":
		return opStringLike, true, true
	case "NumericEquals":
		return opNumericEquals, false, true
	case "NumericNotEquals":
		return opNumericEquals, true, true
	case "NumericLessThan":
		return opNumericLessThan, false, true
	case "NumericLessThanEquals":
		return opNumericLessThanEquals, false, true
	case "NumericGreaterThan":
		return opNumericGreaterThan, false, true
	case "NumericGreaterThanEquals":
		return opNumericGreaterThanEquals, false, true
	case "DateEquals":
		return opDateEquals, false, true
	case "DateNotEquals":
		return opDateEquals, true, true
	case "DateLessThan":
		return opDateLessThan, false, true
	case "DateLessThanEquals":
		return opDateLessThanEquals, false, true
	case "DateGreaterThan":
		return opDateGreaterThan, false, true
	case "DateGreaterThanEquals":
		return opDateGreaterThanEquals, false, true
	case "Bool":
		return opBool, false, true
	case "BinaryEquals":
		return opBinaryEquals, false, true
	case "IpAddress":
		return opIPAddress, false, true
	case "NotIpAddress":
		return opIPAddress, true, true
	case "ArnEquals", "ArnLike":
		return opArnLike, false, true
	case "ArnNotEquals", "ArnNotLike":
		return opArnLike, true, true
	case "Null":
		return opNull, false, true
	}
	return 0, false, false
}

type setOp uint8

const (
	setNone setOp = iota
	setAny        // ForAnyValue:
	setAll        // ForAllValues:
)

// condition is one (operator, key, values) triple of a Condition block.
type condition struct {
	op       opKind
	negated  bool
	set      setOp
	ifExists bool
	b        builtin
	key      string // lower-cased, a deprecated name replaced (canonicalKey)
	name     string // as the policy writes it, for messages
	vals     []condValue
}

// condValue is one policy value, parsed for its operator.
type condValue struct {
	pat    pattern // string, ARN and Bool operators
	num    float64
	t      time.Time
	prefix netip.Prefix
	bin    []byte
	absent bool // Null: "true" asks for the key to be absent
}

// parseCondition compiles one operator's map of keys to values.
func parseCondition(opName string, keys *jvalue, vars bool) ([]condition, error) {
	name := opName
	set := setNone
	if rest, ok := strings.CutPrefix(name, "ForAnyValue:"); ok {
		name, set = rest, setAny
	} else if rest, ok := strings.CutPrefix(name, "ForAllValues:"); ok {
		name, set = rest, setAll
	}
	op, negated, ok := operator(name)
	ifExists := false
	if !ok {
		if base, cut := strings.CutSuffix(name, "IfExists"); cut {
			op, negated, ok = operator(base)
			ifExists = true
			if op == opNull {
				ok = false // Null already tests existence
			}
		}
	}
	if !ok {
		return nil, malformed("Condition operator %q is not valid.", opName)
	}
	if op == opNull && set != setNone {
		return nil, malformed("Condition operator %q is not valid: Null takes no set operator.", opName)
	}
	if keys.kind != jObject {
		return nil, malformed("The value of condition operator %s must be an object of condition keys.", opName)
	}
	out := make([]condition, 0, len(keys.fields))
	for _, f := range keys.fields {
		if !validKey(f.name) {
			return nil, malformed(msgNoVendor)
		}
		raw, ok := f.val.scalars()
		if !ok || len(raw) == 0 {
			return nil, malformed("The value of condition key %s must be a string, a number, a boolean or a non-empty array of them.", f.name)
		}
		c := condition{op: op, negated: negated, set: set, ifExists: ifExists, key: canonicalKey(strings.ToLower(f.name)), name: f.name}
		c.b = builtinFor(c.key)
		for _, s := range raw {
			v, err := parseValue(op, s, vars)
			if err != nil {
				return nil, malformed("Condition %s on %s has an invalid value %q: %s", opName, f.name, s, err.Error())
			}
			c.vals = append(c.vals, v)
		}
		out = append(out, c)
	}
	return out, nil
}

// validKey accepts vendor:name condition keys.
func validKey(k string) bool {
	vendor, name, ok := strings.Cut(k, ":")
	return ok && name != "" && validVendor(vendor)
}

func validVendor(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

type valueError string

func (e valueError) Error() string { return string(e) }

func parseValue(op opKind, s string, vars bool) (condValue, error) {
	var v condValue
	switch op {
	case opStringEquals:
		v.pat = compilePattern(s, modeLiteral, vars, false)
	case opStringEqualsIgnoreCase:
		v.pat = compilePattern(s, modeLiteral, vars, true)
	case opStringLike:
		v.pat = compilePattern(s, modeString, vars, false)
	case opArnLike:
		v.pat = compilePattern(s, modeARN, vars, false)
	case opBool:
		if !strings.EqualFold(s, "true") && !strings.EqualFold(s, "false") && !(vars && strings.Contains(s, "${")) {
			return v, valueError("not true or false")
		}
		v.pat = compilePattern(s, modeLiteral, vars, true)
	case opNull:
		switch strings.ToLower(s) {
		case "true":
			v.absent = true
		case "false":
		default:
			return v, valueError("not true or false")
		}
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		n, ok := parseNumber(s)
		if !ok {
			return v, valueError("not a number")
		}
		v.num = n
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		t, ok := parseDate(s)
		if !ok {
			return v, valueError("not an ISO 8601 date or epoch seconds")
		}
		v.t = t
	case opBinaryEquals:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return v, valueError("not base64")
		}
		v.bin = b
	case opIPAddress:
		p, ok := parsePrefix(s)
		if !ok {
			return v, valueError("not an IP address or CIDR block")
		}
		v.prefix = p
	}
	return v, nil
}

func parseNumber(s string) (float64, bool) {
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return n, err == nil && !math.IsNaN(n) && !math.IsInf(n, 0)
}

var dateLayouts = [...]string{
	time.RFC3339Nano, // also takes whole seconds
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
	"20060102T150405Z",
}

// parseDate reads the ISO 8601 forms AWS shows and epoch seconds; a time
// without a zone is UTC.
func parseDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if c := s[0]; c >= '0' && c <= '9' && !strings.ContainsAny(s, "-T:") {
		f, ok := parseNumber(s)
		if !ok {
			return time.Time{}, false
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// eval applies the condition to the request with AWS's rules for absent
// keys, negated operators and set operators.
func (c *condition) eval(r *Request) bool {
	vals, present := r.lookup(c.key, c.b)
	if c.op == opNull {
		for i := range c.vals {
			if c.vals[i].absent != present {
				return true
			}
		}
		return false
	}
	if !present {
		switch c.set {
		case setAll:
			return true // vacuously: no value fails
		case setAny:
			return c.ifExists
		}
		return c.ifExists || c.negated
	}
	n := vals.len()
	switch c.set {
	case setAny:
		for i := 0; i < n; i++ {
			if c.matchValue(&vals, i, r) != c.negated {
				return true
			}
		}
		return false
	case setAll:
		for i := 0; i < n; i++ {
			if c.matchValue(&vals, i, r) == c.negated {
				return false
			}
		}
		return true
	}
	// Without a set operator a multi-valued key matches when any of its
	// values does; the negated operators are the complement (NOR).
	for i := 0; i < n; i++ {
		if c.matchValue(&vals, i, r) {
			return !c.negated
		}
	}
	return c.negated
}

// matchValue reports whether request value i matches any policy value
// under the positive form of the operator.
func (c *condition) matchValue(vals *values, i int, r *Request) bool {
	switch c.op {
	case opStringEquals, opStringEqualsIgnoreCase, opStringLike, opArnLike, opBool:
		s := vals.at(i)
		for j := range c.vals {
			if c.vals[j].pat.match(s, r) {
				return true
			}
		}
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		var n float64
		switch vals.kind {
		case vTime, vEpoch:
			n = float64(vals.t.Unix())
		default:
			var ok bool
			if n, ok = parseNumber(vals.at(i)); !ok {
				return false
			}
		}
		for j := range c.vals {
			if compareNum(c.op, n, c.vals[j].num) {
				return true
			}
		}
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		var t time.Time
		switch vals.kind {
		case vTime, vEpoch:
			t = vals.t
		default:
			var ok bool
			if t, ok = parseDate(vals.at(i)); !ok {
				return false
			}
		}
		for j := range c.vals {
			if compareTime(c.op, t, c.vals[j].t) {
				return true
			}
		}
	case opBinaryEquals:
		b, err := base64.StdEncoding.DecodeString(vals.at(i))
		if err != nil {
			return false
		}
		for j := range c.vals {
			if bytes.Equal(b, c.vals[j].bin) {
				return true
			}
		}
	case opIPAddress:
		a, err := netip.ParseAddr(vals.at(i))
		if err != nil {
			return false
		}
		a = a.Unmap().WithZone("")
		for j := range c.vals {
			if c.vals[j].prefix.Contains(a) {
				return true
			}
		}
	}
	return false
}

func compareNum(op opKind, req, pol float64) bool {
	switch op {
	case opNumericEquals:
		return req == pol
	case opNumericLessThan:
		return req < pol
	case opNumericLessThanEquals:
		return req <= pol
	case opNumericGreaterThan:
		return req > pol
	}
	return req >= pol
}

func compareTime(op opKind, req, pol time.Time) bool {
	switch op {
	case opDateEquals:
		return req.Equal(pol)
	case opDateLessThan:
		return req.Before(pol)
	case opDateLessThanEquals:
		return !req.After(pol)
	case opDateGreaterThan:
		return req.After(pol)
	}
	return !req.Before(pol)
}
