package xks

import (
	"fmt"
	"strings"
)

// Kind says what went wrong in a call to the proxy.
type Kind int

const (
	// KindProxy: the proxy answered with one of the spec's errorNames.
	KindProxy Kind = iota + 1
	// KindMalformed: the answer is not one the spec allows (bad JSON, a
	// missing or ill-sized member, an unknown errorName, an HTTP error
	// without an errorName, a redirect, a CDIV mismatch).
	KindMalformed
	// KindTimeout: a connection was made but no answer came in time.
	KindTimeout
	// KindTLS: the TLS handshake failed (untrusted or expired certificate,
	// wrong name, no common version or cipher suite, not TLS at all).
	KindTLS
	// KindUnreachable: no connection could be made (DNS, refused, no route,
	// or the deadline passed while connecting).
	KindUnreachable
	// KindUnhealthy: GetHealthStatus reported every external key manager
	// UNAVAILABLE.
	KindUnhealthy
)

func (k Kind) String() string {
	switch k {
	case KindProxy:
		return "proxy error"
	case KindMalformed:
		return "malformed response"
	case KindTimeout:
		return "timed out"
	case KindTLS:
		return "TLS failure"
	case KindUnreachable:
		return "unreachable"
	case KindUnhealthy:
		return "all external key managers unavailable"
	}
	return "unknown"
}

// Error is a failed proxy call: the spec's errorName and HTTP status when
// the proxy answered with an error, or a transport failure, or an answer
// that does not meet the spec. Message is for logs and never reaches a KMS
// caller (AWS logs the proxy's errorMessage instead of returning it); it
// never holds plaintext, secrets or response bodies.
type Error struct {
	Op        string // XKS API: GetHealthStatus, GetKeyMetadata, Encrypt, Decrypt
	Kind      Kind
	Name      string // the proxy's errorName (KindProxy only)
	Status    int    // HTTP status of the answer; 0 when there was none
	Message   string // the proxy's errorMessage (sanitized) or what was malformed
	Transport bool   // no usable HTTP answer: KindTimeout, KindTLS, KindUnreachable
	Err       error  // the underlying cause, for logs
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "xks %s: %s", e.Op, e.Kind)
	if e.Name != "" {
		b.WriteString(" " + e.Name)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func malformed(op string, status int, format string, args ...any) *Error {
	return &Error{Op: op, Kind: KindMalformed, Status: status, Message: fmt.Sprintf(format, args...)}
}

// sanitize keeps a proxy-supplied string fit for a log line: the spec's
// limits for errorMessage (under 512 printable ASCII characters), with
// anything else replaced, so a proxy cannot inject lines or escapes.
func sanitize(s string) string {
	const maxLen = 511
	b := make([]byte, 0, min(len(s), maxLen))
	for i := 0; i < len(s) && len(b) < maxLen; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b = append(b, c)
	}
	return string(b)
}
