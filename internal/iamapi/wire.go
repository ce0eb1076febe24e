package iamapi

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/secret"
)

// Services, their API versions and XML namespaces.
const (
	ServiceIAM = "iam"
	ServiceSTS = "sts"

	versionIAM = "2010-05-08"
	versionSTS = "2011-06-15"

	namespaceIAM = "https://iam.amazonaws.com/doc/2010-05-08/"
	namespaceSTS = "https://sts.amazonaws.com/doc/2011-06-15/"
)

func namespace(service string) string {
	if service == ServiceSTS {
		return namespaceSTS
	}
	return namespaceIAM
}

// timeLayout is how IAM and STS write timestamps.
const timeLayout = "2006-01-02T15:04:05Z"

func xmlTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Error codes of the query protocol that package identity does not produce.
const (
	codeInvalidAction       = "InvalidAction"
	codeMissingAction       = "MissingAction"
	codeMissingAuthToken    = "MissingAuthenticationToken"
	codeIncompleteSignature = "IncompleteSignature"
	codeSignatureMismatch   = "SignatureDoesNotMatch"
	codeInvalidClientToken  = "InvalidClientTokenId"
	codeExpiredToken        = "ExpiredToken"
	codeThrottling          = "Throttling"
	codeServiceFailure      = "ServiceFailure" // IAM's internal error
	codeInternalFailure     = "InternalFailure"
	codePolicyEvaluation    = "PolicyEvaluation" // a simulation that failed inside
)

// httpStatus is the status AWS sends with an error code.
func httpStatus(code string) int {
	switch code {
	case identity.CodeNoSuchEntity:
		return http.StatusNotFound
	case identity.CodeEntityAlreadyExists, identity.CodeLimitExceeded, identity.CodeDeleteConflict:
		return http.StatusConflict
	case identity.CodeAccessDenied, codeInvalidClientToken, codeSignatureMismatch, codeMissingAuthToken:
		return http.StatusForbidden
	case codeServiceFailure, codeInternalFailure, codePolicyEvaluation:
		return http.StatusInternalServerError
	default:
		return http.StatusBadRequest
	}
}

// params are a request's form parameters, with the validation errors found
// while reading them, reported together as AWS does.
type params struct {
	v    url.Values
	errs []string
}

// str reads a string parameter. member is the name AWS uses in validation
// messages (userName for UserName).
func (p *params) str(name string, required bool, min, max int, pattern string, ok func(string) bool) string {
	vals, present := p.v[name]
	if !present || len(vals) == 0 {
		if required {
			p.errs = append(p.errs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", member(name)))
		}
		return ""
	}
	s := vals[0]
	switch {
	case len(s) < min:
		p.errs = append(p.errs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", echo(s), member(name), min))
	case max > 0 && len(s) > max:
		p.errs = append(p.errs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", echo(s), member(name), max))
	case ok != nil && !ok(s):
		p.errs = append(p.errs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", echo(s), member(name), pattern))
	}
	return s
}

// num reads an optional integer parameter; 0 means absent.
func (p *params) num(name string, min, max int) int {
	s := p.v.Get(name)
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		p.errs = append(p.errs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must be an integer", echo(s), member(name)))
	case n < min:
		p.errs = append(p.errs, fmt.Sprintf("Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", n, member(name), min))
	case n > max:
		p.errs = append(p.errs, fmt.Sprintf("Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", n, member(name), max))
	}
	return n
}

// tags reads Tags.member.N.Key / Tags.member.N.Value.
func (p *params) tags() []identity.Tag {
	var out []identity.Tag
	for i := 1; ; i++ {
		prefix := "Tags.member." + strconv.Itoa(i) + "."
		k, hasKey := p.v[prefix+"Key"]
		v, hasValue := p.v[prefix+"Value"]
		if !hasKey && !hasValue {
			break
		}
		t := identity.Tag{}
		if hasKey {
			t.Key = k[0]
		}
		if hasValue {
			t.Value = v[0]
		}
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			p.errs = append(p.errs, fmt.Sprintf("Value at 'tags.%d.member' failed to satisfy constraint: Member must have a key of 1 to 128 characters and a value of at most 256", i))
		}
		out = append(out, t)
		if len(out) > 50 {
			p.errs = append(p.errs, "Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
			break
		}
	}
	return out
}

// list reads the paging parameters of a List action.
func (p *params) list(withPath bool) identity.ListInput {
	in := identity.ListInput{
		Marker:   p.str("Marker", false, 1, 320, `[\u0020-\u00FF]+`, nil),
		MaxItems: p.num("MaxItems", 1, 1000),
	}
	if withPath {
		in.PathPrefix = p.str("PathPrefix", false, 1, 512, `\u002F[\u0021-\u007F]*`, validPathPrefix)
	}
	return in
}

func (p *params) err() error {
	switch len(p.errs) {
	case 0:
		return nil
	case 1:
		return &identity.Error{Code: identity.CodeValidation, Message: "1 validation error detected: " + p.errs[0]}
	}
	return &identity.Error{Code: identity.CodeValidation, Message: fmt.Sprintf("%d validation errors detected: %s", len(p.errs), strings.Join(p.errs, "; "))}
}

// Parameter patterns of the IAM and STS models.
const (
	patternName = `[\w+=,.@-]+`
	patternPath = `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`
	patternDoc  = `[\u0009\u000A\u000D\u0020-\u00FF]+`
)

func validName(s string) bool { return identity.ValidName(s, len(s)) }

func validPathPrefix(s string) bool {
	if s == "" || s[0] != '/' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7f {
			return false
		}
	}
	return true
}

// validDocument accepts the characters a policy document may hold.
func validDocument(s string) bool {
	for _, r := range s {
		if !(r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xff)) {
			return false
		}
	}
	return true
}

func validAccessKeyID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// member is a parameter's name as AWS writes it in validation messages.
func member(name string) string {
	if name == "" {
		return name
	}
	return strings.ToLower(name[:1]) + name[1:]
}

// echo bounds how much of a client's value an error repeats.
func echo(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}

// urlEncode percent-encodes a policy document as IAM returns it (RFC 3986:
// everything but unreserved characters), so that both url.QueryUnescape and
// Python's unquote (which the AWS CLI uses) give the document back.
func urlEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 3 / 2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// members wraps a list as the query protocol writes it: <member> elements,
// with the list's element present even when empty.
type members[T any] struct {
	Member []T `xml:"member"`
}

// secretText is a secret written as XML character data without becoming a
// Go string.
type secretText secret.Bytes

// MarshalXML implements xml.Marshaler.
func (s secretText) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if err := e.EncodeToken(xml.CharData(s)); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// writeResult writes <ActionResponse xmlns=…><ActionResult>…</ActionResult>
// <ResponseMetadata>…</ResponseMetadata></ActionResponse>. A nil result
// (actions without output) writes no Result element. The body buffer is
// wiped afterwards, since it may hold a secret.
func writeResult(w http.ResponseWriter, service, action, requestID string, result any) error {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	start := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: namespace(service)}}}
	err := enc.EncodeToken(start)
	if err == nil && result != nil {
		err = enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
	}
	if err == nil {
		err = enc.EncodeElement(responseMetadata{RequestID: requestID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(start.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	defer clear(buf.Bytes())
	if err != nil {
		return err
	}
	writeBody(w, http.StatusOK, buf.Bytes())
	return nil
}

type errorResponse struct {
	XMLName   xml.Name    `xml:"ErrorResponse"`
	Xmlns     string      `xml:"xmlns,attr"`
	Error     errorDetail `xml:"Error"`
	RequestID string      `xml:"RequestId"`
}

type errorDetail struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// writeError writes AWS's query-protocol error document.
func writeError(w http.ResponseWriter, service, requestID, code, message string) {
	status := httpStatus(code)
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	b, err := xml.Marshal(errorResponse{Xmlns: namespace(service), Error: errorDetail{Type: typ, Code: code, Message: message}, RequestID: requestID})
	if err != nil {
		b = []byte("<ErrorResponse><Error><Type>Receiver</Type><Code>" + codeInternalFailure + "</Code></Error></ErrorResponse>")
		status = http.StatusInternalServerError
	}
	writeBody(w, status, b)
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"text/xml"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
