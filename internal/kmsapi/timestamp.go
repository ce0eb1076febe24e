package kmsapi

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Timestamp is a point in time as AWS JSON 1.1 carries it: a JSON number of
// seconds since the Unix epoch, with at most millisecond precision.
type Timestamp time.Time

// Time returns a pointer to t as a Timestamp.
func Time(t time.Time) *Timestamp {
	ts := Timestamp(t)
	return &ts
}

// Time returns t as a time.Time.
func (t Timestamp) Time() time.Time { return time.Time(t) }

// String formats t in RFC 3339.
func (t Timestamp) String() string { return time.Time(t).UTC().Format(time.RFC3339Nano) }

// Int32 returns a pointer to v.
func Int32(v int32) *int32 { return &v }

// Int64 returns a pointer to v.
func Int64(v int64) *int64 { return &v }

// Bool returns a pointer to v.
func Bool(v bool) *bool { return &v }

// MarshalJSON writes whole seconds as an integer (1700000000) and anything
// else with up to three decimals (1700000000.123), rounded to the millisecond.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).Round(time.Millisecond).UnixMilli()
	neg := ms < 0
	if neg {
		ms = -ms
	}
	var b []byte
	if neg {
		b = append(b, '-')
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	if frac := ms % 1000; frac != 0 {
		f := strconv.FormatInt(1000+frac, 10)[1:] // zero-padded to 3 digits
		b = append(b, '.')
		b = append(b, strings.TrimRight(f, "0")...)
	}
	return b, nil
}

var errTimestamp = errors.New("kmsapi: timestamp is not a JSON number of epoch seconds in range")

// maxSecondDigits bounds accepted timestamps to about ±31,000 years.
const maxSecondDigits = 12

// UnmarshalJSON reads any JSON number of epoch seconds, including fractions
// and exponents (1.5565824E9), to nanosecond precision. null leaves t as is.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e := strings.TrimPrefix(s[i+1:], "+")
		if e == "" || len(e) > 6 || e[0] == '+' {
			return errTimestamp
		}
		n, err := strconv.Atoi(e)
		if err != nil {
			return errTimestamp
		}
		exp = n
	}
	whole, frac, _ := strings.Cut(mant, ".")
	if !jsonDigits(whole, true) || (strings.Contains(mant, ".") && !jsonDigits(frac, false)) {
		return errTimestamp
	}
	// Move the decimal point exp places in the digit string.
	digits := whole + frac
	point := len(whole) + exp
	switch {
	case point < 0:
		digits = strings.Repeat("0", -point) + digits
		point = 0
	case point > len(digits):
		if point > len(digits)+maxSecondDigits {
			return errTimestamp
		}
		digits += strings.Repeat("0", point-len(digits))
	}
	secDigits := strings.TrimLeft(digits[:point], "0")
	if len(secDigits) > maxSecondDigits {
		return errTimestamp
	}
	var sec int64
	if secDigits != "" {
		sec, _ = strconv.ParseInt(secDigits, 10, 64)
	}
	// Nanoseconds from the first ten fraction digits, rounded half up.
	f := digits[point:]
	if len(f) > 10 {
		f = f[:10]
	}
	f += strings.Repeat("0", 10-len(f))
	n, _ := strconv.ParseInt(f, 10, 64)
	nsec := (n + 5) / 10
	if neg {
		sec, nsec = -sec, -nsec
	}
	*t = Timestamp(time.Unix(sec, nsec))
	return nil
}

// jsonDigits reports whether s is a run of digits valid in a JSON number: an
// integer part has no leading zero unless it is "0"; a fraction is non-empty.
func jsonDigits(s string, integer bool) bool {
	if s == "" || (integer && len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
