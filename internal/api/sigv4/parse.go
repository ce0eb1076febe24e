package sigv4

import (
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/kmserr"
)

const (
	algorithm  = "AWS4-HMAC-SHA256"
	terminator = "aws4_request"

	// amzDateLayout is ISO 8601 basic format, as X-Amz-Date carries it.
	amzDateLayout = "20060102T150405Z"
	// scopeDateLayout is the date element of the credential scope.
	scopeDateLayout = "20060102"

	// maxEcho bounds how much of a client-supplied value an error repeats.
	maxEcho = 128
)

// authorization is the parsed Authorization header.
type authorization struct {
	AccessKeyID string
	Date        string // scope date, yyyymmdd
	Region      string
	Service     string
	Terminator  string
	// Credential is the whole Credential parameter, for error messages.
	Credential string
	// SignedHeaders are the lower-case header names, strictly ascending.
	// parseAuthorization fills it in; Verify, to save the allocation, walks
	// SignedHeadersRaw with nextSignedHeader instead and leaves it nil.
	SignedHeaders []string
	// SignedHeadersRaw is the parameter exactly as sent, already checked
	// to be a valid list; it is part of the canonical request.
	SignedHeadersRaw string
	Signature        string
}

// parseAuthorization parses an AWS4-HMAC-SHA256 Authorization header:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex
//
// hasDate reports whether the request carries X-Amz-Date or Date; a missing
// date is reported in the same message as missing parameters, as AWS does.
// The errors are IncompleteSignatureException, with AWS's wording.
func parseAuthorization(header string, hasDate bool) (*authorization, error) {
	a := new(authorization)
	if err := a.parse(header, hasDate); err != nil {
		return nil, err
	}
	a.SignedHeaders = strings.Split(a.SignedHeadersRaw, ";")
	return a, nil
}

// parse is parseAuthorization into a, which Verify keeps on its stack,
// except that it leaves a.SignedHeaders nil. On error a is left partly
// filled and must not be used.
func (a *authorization) parse(header string, hasDate bool) error {
	header = strings.TrimSpace(header)
	alg, rest, _ := strings.Cut(header, " ")
	if alg != algorithm {
		if !strings.HasPrefix(alg, "AWS4-") {
			// Not SigV4 at all (for example SigV2 "AWS AKID:sig"): AWS
			// answers as if the SigV4 parameters were missing.
			return missingParams(true, true, true, hasDate)
		}
		return kmserr.New(kmserr.IncompleteSignature,
			"Unsupported AWS 'algorithm': '%s' (only AWS4-HMAC-SHA256 for now). ", echo(alg))
	}

	var haveCred, haveSigned, haveSig bool
	for rest != "" {
		// Cutting at each "," visits the same parts as splitting would;
		// only the empty part after a trailing "," is not visited, and
		// empty parts are skipped anyway.
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, value, ok := strings.Cut(part, "=")
		if !ok {
			return kmserr.New(kmserr.IncompleteSignature,
				"'%s' not a valid key=value pair (missing equal-sign) in Authorization header.", echo(part))
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch key {
		case "Credential":
			if haveCred {
				return duplicateParam(key)
			}
			haveCred = true
			a.Credential = value
		case "SignedHeaders":
			if haveSigned {
				return duplicateParam(key)
			}
			haveSigned = true
			a.SignedHeadersRaw = value
		case "Signature":
			if haveSig {
				return duplicateParam(key)
			}
			haveSig = true
			a.Signature = value
		default:
			// AWS ignores unknown parameters; so do we. They are not signed
			// and change nothing.
		}
	}
	if !haveCred || !haveSig || !haveSigned || !hasDate {
		return missingParams(!haveCred, !haveSig, !haveSigned, hasDate)
	}

	var elems [5]string
	rest = a.Credential
	for i := range elems {
		var ok bool
		elems[i], rest, ok = strings.Cut(rest, "/")
		if ok == (i == len(elems)-1) {
			return kmserr.New(kmserr.IncompleteSignature,
				"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'",
				echo(a.Credential))
		}
	}
	a.AccessKeyID, a.Date, a.Region, a.Service, a.Terminator = elems[0], elems[1], elems[2], elems[3], elems[4]

	if !validSignedHeaders(a.SignedHeadersRaw) {
		return kmserr.New(kmserr.IncompleteSignature,
			"Authorization header 'SignedHeaders' must be a non-empty, ';'-separated, lower-case and sorted list of header names.")
	}
	return nil
}

// missingParams builds AWS's message for an Authorization header that lacks
// parameters. AWS appends "Authorization=<header>"; we leave the header out
// so that whatever a client put there (sometimes a pasted secret) is never
// repeated into logs.
func missingParams(cred, sig, signed, hasDate bool) error {
	var b strings.Builder
	if cred {
		b.WriteString("Authorization header requires 'Credential' parameter. ")
	}
	if sig {
		b.WriteString("Authorization header requires 'Signature' parameter. ")
	}
	if signed {
		b.WriteString("Authorization header requires 'SignedHeaders' parameter. ")
	}
	if !hasDate {
		b.WriteString("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
	}
	return kmserr.New(kmserr.IncompleteSignature, "%s", strings.TrimSuffix(b.String(), " "))
}

func duplicateParam(key string) error {
	return kmserr.New(kmserr.IncompleteSignature, "Authorization header has duplicate '%s' parameter.", key)
}

// validSignedHeaders checks that s, "a;b;c", lists non-empty lower-case
// header tokens in strictly ascending order, which is the only form a
// conforming signer produces and the form the canonical request needs.
func validSignedHeaders(s string) bool {
	if s == "" {
		return false
	}
	prev := ""
	for rest := s; rest != ""; {
		var name string
		name, rest = nextSignedHeader(rest)
		if name == "" || !isLowerToken(name) || (prev != "" && name <= prev) {
			return false
		}
		prev = name
	}
	// A trailing ";" leaves an empty last name.
	return s[len(s)-1] != ';'
}

// nextSignedHeader splits the first name off a ";"-separated list.
func nextSignedHeader(list string) (name, rest string) {
	name, rest, _ = strings.Cut(list, ";")
	return name, rest
}

// isLowerToken reports whether s is an RFC 9110 token without upper-case
// letters.
func isLowerToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !lowerTokenChars[s[i]] {
			return false
		}
	}
	return true
}

// lowerTokenChars is the set isLowerToken accepts. It is never modified.
var lowerTokenChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	return t
}()

// parseAmzDate parses an X-Amz-Date value strictly: exactly
// yyyymmddThhmmssZ, a real calendar day and a time of day without leap
// seconds. It accepts what time.Parse(amzDateLayout, s) accepts for a
// 16-byte s, without its cost.
func parseAmzDate(s string) (time.Time, error) {
	if t, ok := parseAmzDateFast(s); ok {
		return t, nil
	}
	return time.Time{}, kmserr.New(kmserr.IncompleteSignature,
		"Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", echo(s))
}

func parseAmzDateFast(s string) (time.Time, bool) {
	if len(s) != len(amzDateLayout) || s[8] != 'T' || s[15] != 'Z' {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(4, 2), num(6, 2)
	hour, minute, sec := num(9, 2), num(11, 2), num(13, 2)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC), true
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// formatAmzDate formats t, in UTC, as yyyymmddThhmmssZ; its first eight
// bytes are the credential-scope date. It writes what
// t.UTC().AppendFormat(nil, amzDateLayout) does for years 0 to 9999.
func formatAmzDate(t time.Time) (out [len(amzDateLayout)]byte) {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	if year < 0 || year > 9999 {
		t.AppendFormat(out[:0], amzDateLayout)
		return out
	}
	put := func(i, n, v int) {
		for j := i + n - 1; j >= i; j-- {
			out[j] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, 4, year)
	put(4, 2, int(month))
	put(6, 2, day)
	out[8] = 'T'
	put(9, 2, hour)
	put(11, 2, minute)
	put(13, 2, sec)
	out[15] = 'Z'
	return out
}

// parseHTTPDate parses a Date header (used only when X-Amz-Date is absent).
func parseHTTPDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, kmserr.New(kmserr.IncompleteSignature,
		"Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", echo(s))
}

// validRegion reports whether s looks like an AWS region name
// ("us-east-1", "us-gov-west-1", "local"): lower-case letters, digits and
// inner hyphens.
func validRegion(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// echo makes a client-supplied value safe to repeat in an error message:
// printable ASCII only, at most maxEcho bytes.
func echo(s string) string {
	truncated := false
	if len(s) > maxEcho {
		s, truncated = s[:maxEcho], true
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			clean = false
			break
		}
	}
	if !clean {
		b := []byte(s)
		for i, c := range b {
			if c < 0x20 || c > 0x7e {
				b[i] = '?'
			}
		}
		s = string(b)
	}
	if truncated {
		s += "..."
	}
	return s
}
