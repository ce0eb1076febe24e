package sigv4

import (
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The canonical request, as the SigV4 specification defines it for every
// service except S3:
//
//	METHOD \n
//	canonical URI \n
//	canonical query string \n
//	canonical headers (each "name:value\n") \n
//	signed headers \n
//	hex(SHA-256(payload))
//
// writeCanonicalRequest streams it into w (a SHA-256 hash on the hot path)
// instead of building a string.
func writeCanonicalRequest(w *buffer, r *http.Request, a *authorization, payloadHash *[64]byte, body []byte) error {
	w.WriteString(r.Method)
	w.WriteString("\n")
	writeCanonicalURI(w, wirePath(r))
	w.WriteString("\n")
	if err := writeCanonicalQuery(w, r.URL.RawQuery); err != nil {
		return err
	}
	w.WriteString("\n")
	for rest := a.SignedHeadersRaw; rest != ""; {
		var name string
		name, rest = nextSignedHeader(rest)
		w.WriteString(name)
		w.WriteString(":")
		writeSignedHeader(w, r, name, body)
		w.WriteString("\n")
	}
	w.WriteString("\n")
	w.WriteString(a.SignedHeadersRaw)
	w.WriteString("\n")
	*w = append(*w, payloadHash[:]...)
	return nil
}

// wirePath returns the request path as the client sent it, still
// percent-encoded. On the server RequestURI holds the request target
// verbatim; requests built in-process fall back to the URL's escaped path.
func wirePath(r *http.Request) string {
	if u := r.RequestURI; strings.HasPrefix(u, "/") {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	if r.URL == nil {
		return "/"
	}
	if r.URL.Opaque != "" {
		return r.URL.Opaque
	}
	return r.URL.EscapedPath()
}

// writeCanonicalURI normalizes the path (RFC 3986 dot-segment removal, and
// runs of "/" collapsed to one) and URI-encodes each segment. The path is
// encoded as it arrived, so an already percent-encoded segment is encoded a
// second time ("%20" becomes "%2520"), exactly as AWS's non-S3 signers do.
func writeCanonicalURI(w *buffer, path string) {
	if path == "" || path == "/" {
		w.WriteString("/")
		return
	}
	segs := make([]string, 0, 8)
	trailing := strings.HasSuffix(path, "/")
	for seg := range strings.SplitSeq(path, "/") {
		switch seg {
		case "", ".":
			// Empty segments come from repeated slashes; "." is a no-op.
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
		}
	}
	// A path ending in "/." or "/.." names a directory, as RFC 3986 §5.2.4
	// says; keep its trailing slash.
	if strings.HasSuffix(path, "/.") || strings.HasSuffix(path, "/..") || path == "." || path == ".." {
		trailing = true
	}
	w.WriteString("/")
	for i, seg := range segs {
		if i > 0 {
			w.WriteString("/")
		}
		w.WriteString(uriEncode(seg))
	}
	if trailing && len(segs) > 0 {
		w.WriteString("/")
	}
}

// writeCanonicalQuery decodes the raw query string into name/value pairs,
// re-encodes each with RFC 3986 rules and writes them sorted by name, then
// value, joined by "&". A "+" in the raw query is a space, as in
// application/x-www-form-urlencoded (this matches the AWS SDKs, which never
// send a literal "+").
func writeCanonicalQuery(w *buffer, raw string) error {
	if raw == "" {
		return nil
	}
	type pair struct{ k, v string }
	pairs := make([]pair, 0, strings.Count(raw, "&")+1)
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return errMismatch()
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return errMismatch()
		}
		pairs = append(pairs, pair{uriEncode(dk), uriEncode(dv)})
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	for i, p := range pairs {
		if i > 0 {
			w.WriteString("&")
		}
		w.WriteString(p.k)
		w.WriteString("=")
		w.WriteString(p.v)
	}
	return nil
}

// writeSignedHeader writes the canonical value of a signed header. Go's HTTP
// server moves Host (and, for chunked bodies, Transfer-Encoding) out of the
// header map, so those come from the request fields. A signed Content-Length
// that the map does not hold is the length of the body the client sent.
func writeSignedHeader(w *buffer, r *http.Request, name string, body []byte) {
	switch name {
	case "host":
		h := r.Host
		if h == "" && r.URL != nil {
			h = r.URL.Host
		}
		writeHeaderValue(w, h)
		return
	case "content-length":
		if v := r.Header["Content-Length"]; len(v) > 0 {
			writeHeaderValues(w, v)
		} else {
			*w = strconv.AppendInt(*w, int64(len(body)), 10)
		}
		return
	case "transfer-encoding":
		if v := r.Header["Transfer-Encoding"]; len(v) > 0 {
			writeHeaderValues(w, v)
		} else {
			writeHeaderValues(w, r.TransferEncoding)
		}
		return
	}
	if v, ok := r.Header[canonicalKey(name)]; ok {
		writeHeaderValues(w, v)
		return
	}
	// A header map built by hand may hold a non-canonical key.
	for k, v := range r.Header {
		if strings.EqualFold(k, name) {
			writeHeaderValues(w, v)
			return
		}
	}
}

// canonicalKey is textproto.CanonicalMIMEHeaderKey, without an allocation
// for the headers AWS SDKs sign on every request.
func canonicalKey(name string) string {
	switch name {
	case "content-type":
		return "Content-Type"
	case "x-amz-date":
		return "X-Amz-Date"
	case "x-amz-target":
		return "X-Amz-Target"
	case "x-amz-security-token":
		return "X-Amz-Security-Token"
	case "x-amz-content-sha256":
		return "X-Amz-Content-Sha256"
	case "x-amz-user-agent":
		return "X-Amz-User-Agent"
	case "amz-sdk-invocation-id":
		return "Amz-Sdk-Invocation-Id"
	case "amz-sdk-request":
		return "Amz-Sdk-Request"
	case "date":
		return "Date"
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

// writeHeaderValues writes the values joined by ",", each trimmed and with
// inner runs of spaces collapsed to one.
func writeHeaderValues(w *buffer, values []string) {
	for i, v := range values {
		if i > 0 {
			w.WriteString(",")
		}
		writeHeaderValue(w, v)
	}
}

// writeHeaderValue writes one value, trimmed and with inner runs of spaces
// collapsed to one.
func writeHeaderValue(w *buffer, v string) {
	v = strings.TrimSpace(v)
	for len(v) > 0 {
		j := strings.Index(v, "  ")
		if j < 0 {
			w.WriteString(v)
			return
		}
		w.WriteString(v[:j+1])
		v = strings.TrimLeft(v[j+1:], " ")
	}
}

// uriEncode percent-encodes every byte except the RFC 3986 unreserved
// characters (A-Z a-z 0-9 - . _ ~), with upper-case hex digits.
func uriEncode(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexUpper = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexUpper[c>>4], hexUpper[c&0x0f])
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// buffer collects the canonical request; it is hashed once it is complete.
type buffer []byte

func (b *buffer) WriteString(s string) {
	*b = append(*b, s...)
}
