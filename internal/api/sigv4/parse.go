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
	SignedHeaders []string
	// SignedHeadersRaw is the parameter exactly as sent; it is part of the
	// canonical request.
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
	header = strings.TrimSpace(header)
	alg, rest, _ := strings.Cut(header, " ")
	if alg != algorithm {
		if !strings.HasPrefix(alg, "AWS4-") {
			// Not SigV4 at all (for example SigV2 "AWS AKID:sig"): AWS
			// answers as if the SigV4 parameters were missing.
			return nil, missingParams(true, true, true, hasDate)
		}
		return nil, kmserr.New(kmserr.IncompleteSignature,
			"Unsupported AWS 'algorithm': '%s' (only AWS4-HMAC-SHA256 for now). ", echo(alg))
	}

	var a authorization
	var haveCred, haveSigned, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, value, ok := strings.Cut(part, "=")
		if !ok {
			return nil, kmserr.New(kmserr.IncompleteSignature,
				"'%s' not a valid key=value pair (missing equal-sign) in Authorization header.", echo(part))
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch key {
		case "Credential":
			if haveCred {
				return nil, duplicateParam(key)
			}
			haveCred = true
			a.Credential = value
		case "SignedHeaders":
			if haveSigned {
				return nil, duplicateParam(key)
			}
			haveSigned = true
			a.SignedHeadersRaw = value
		case "Signature":
			if haveSig {
				return nil, duplicateParam(key)
			}
			haveSig = true
			a.Signature = value
		default:
			// AWS ignores unknown parameters; so do we. They are not signed
			// and change nothing.
		}
	}
	if !haveCred || !haveSig || !haveSigned || !hasDate {
		return nil, missingParams(!haveCred, !haveSig, !haveSigned, hasDate)
	}

	var elems [5]string
	rest = a.Credential
	for i := range elems {
		var ok bool
		elems[i], rest, ok = strings.Cut(rest, "/")
		if ok == (i == len(elems)-1) {
			return nil, kmserr.New(kmserr.IncompleteSignature,
				"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'",
				echo(a.Credential))
		}
	}
	a.AccessKeyID, a.Date, a.Region, a.Service, a.Terminator = elems[0], elems[1], elems[2], elems[3], elems[4]

	names, ok := splitSignedHeaders(a.SignedHeadersRaw)
	if !ok {
		return nil, kmserr.New(kmserr.IncompleteSignature,
			"Authorization header 'SignedHeaders' must be a non-empty, ';'-separated, lower-case and sorted list of header names.")
	}
	a.SignedHeaders = names
	return &a, nil
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

// splitSignedHeaders splits "a;b;c" and checks that the names are non-empty
// lower-case header tokens in strictly ascending order, which is the only
// form a conforming signer produces and the form the canonical request needs.
func splitSignedHeaders(s string) ([]string, bool) {
	if s == "" {
		return nil, false
	}
	names := make([]string, 0, strings.Count(s, ";")+1)
	prev := ""
	for name := range strings.SplitSeq(s, ";") {
		if name == "" || !isLowerToken(name) || (prev != "" && name <= prev) {
			return nil, false
		}
		names = append(names, name)
		prev = name
	}
	return names, true
}

// isLowerToken reports whether s is an RFC 9110 token without upper-case
// letters.
func isLowerToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// parseAmzDate parses an X-Amz-Date value strictly.
func parseAmzDate(s string) (time.Time, error) {
	t, err := time.Parse(amzDateLayout, s)
	if err != nil || len(s) != len(amzDateLayout) {
		return time.Time{}, kmserr.New(kmserr.IncompleteSignature,
			"Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", echo(s))
	}
	return t, nil
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
