package sigv4

import (
	"context"
	"crypto/fips140"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
)

// Credentials finds the secret for an access key id. It returns
// ErrUnknownAccessKey when there is none.
type Credentials interface {
	SigningSecret(ctx context.Context, accessKeyID string) (Secret, error)
}

// Secret is what a Credentials store knows about an access key.
type Secret struct {
	// Key is the secret access key.
	Key secret.Bytes
	// SessionToken is non-empty for temporary credentials: the request must
	// carry exactly this X-Amz-Security-Token, and a request for a long-term
	// key must carry none.
	SessionToken string
	// Expires is when temporary credentials stop working; zero means never.
	Expires time.Time
}

// MinFIPSSecretLen is the shortest secret access key usable in FIPS 140-only
// mode: with the "AWS4" prefix it makes the 14-byte (112-bit) HMAC key the
// mode requires. AWS's own secrets are 40 characters.
const MinFIPSSecretLen = 10

// ErrUnknownAccessKey is returned by a Credentials store for an access key id
// it does not know.
var ErrUnknownAccessKey = errors.New("sigv4: unknown access key id")

// DefaultMaxSkew is the clock window AWS JSON services allow on each side of
// the server clock.
const DefaultMaxSkew = 5 * time.Minute

// Verifier checks SigV4-signed requests. Its exported fields are its
// configuration; set them before the first Verify and do not copy a Verifier
// after use (it holds a cache). Verify is safe for concurrent use.
type Verifier struct {
	// Credentials looks up the secret for the access key in the request.
	Credentials Credentials
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxSkew is how far X-Amz-Date may be from Now; 0 means DefaultMaxSkew.
	MaxSkew time.Duration
	// Services are the service names accepted in the credential scope, for
	// example {"kms"}. Empty means {"kms"}.
	Services []string
	// Regions reports whether a region in the credential scope is accepted;
	// nil accepts any syntactically valid region name.
	Regions func(region string) bool

	keys keyCache
	bufs sync.Pool // *buffer, for the canonical request and string to sign
}

// Result describes a request whose signature verified.
type Result struct {
	AccessKeyID  string
	Region       string
	Service      string
	SessionToken string
	SigningTime  time.Time
}

// Messages AWS sends, verbatim.
const (
	msgMissingToken    = "Missing Authentication Token"
	msgInvalidToken    = "The security token included in the request is invalid."
	msgInvalidSession  = "The security token included in the request is invalid"
	msgExpiredToken    = "The security token included in the request is expired"
	msgSignatureDiffer = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgHostNotSigned = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
)

func errMismatch() error { return kmserr.New(kmserr.InvalidSignature, msgSignatureDiffer) }

// Verify checks the SigV4 signature of r, whose body the caller has already
// read into body (it is hashed here; r.Body is not touched). On success it
// returns who signed and in which scope. Every error is a *kmserr.Error with
// AWS's exception name and message; an error from the Credentials store other
// than ErrUnknownAccessKey becomes KMSInternalException with the cause kept
// for the log.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (*Result, error) {
	// The header map is indexed directly: the keys are canonical, as
	// Header.Values would make them.
	authz := r.Header["Authorization"]
	if len(authz) == 0 {
		if isPresigned(r) {
			return nil, kmserr.New(kmserr.IncompleteSignature,
				"Query-string authentication is not supported by this service; sign the request with an Authorization header.")
		}
		return nil, kmserr.New(kmserr.MissingAuthenticationToken, msgMissingToken)
	}
	if len(authz) > 1 {
		return nil, kmserr.New(kmserr.IncompleteSignature, "Request has more than one Authorization header.")
	}

	amzDates := r.Header["X-Amz-Date"]
	httpDates := r.Header["Date"]
	var a authorization
	if err := a.parse(authz[0], len(amzDates) > 0 || len(httpDates) > 0); err != nil {
		return nil, err
	}

	// Request time, and the header that carries it.
	var (
		signingTime time.Time
		err         error
	)
	dateHeader := "x-amz-date"
	switch {
	case len(amzDates) > 1 || (len(amzDates) == 0 && len(httpDates) > 1):
		return nil, kmserr.New(kmserr.IncompleteSignature, "Request has more than one date header.")
	case len(amzDates) == 1:
		signingTime, err = parseAmzDate(amzDates[0])
	default:
		dateHeader = "date"
		signingTime, err = parseHTTPDate(httpDates[0])
	}
	if err != nil {
		return nil, err
	}
	if err := v.checkClock(signingTime); err != nil {
		return nil, err
	}
	amzDate := formatAmzDate(signingTime)

	if err := checkSignedHeaders(r, &a, dateHeader); err != nil {
		return nil, err
	}
	if err := v.checkScope(&a, signingTime, &amzDate); err != nil {
		return nil, err
	}

	payloadHash, err := checkPayload(r, body)
	if err != nil {
		return nil, err
	}

	if a.AccessKeyID == "" {
		return nil, kmserr.New(kmserr.UnrecognizedClient, msgInvalidToken)
	}
	if v.Credentials == nil {
		return nil, kmserr.Internalf("sigv4: Verifier has no Credentials")
	}
	sec, err := v.Credentials.SigningSecret(ctx, a.AccessKeyID)
	if errors.Is(err, ErrUnknownAccessKey) {
		return nil, kmserr.New(kmserr.UnrecognizedClient, msgInvalidToken)
	}
	if err != nil {
		return nil, kmserr.Internalf("sigv4: look up access key %s: %w", a.AccessKeyID, err)
	}
	if len(sec.Key) < MinFIPSSecretLen && fips140.Enforced() {
		// The first HMAC key of the derivation is "AWS4"+secret, and FIPS
		// 140-only mode panics on HMAC keys under 112 bits.
		return nil, kmserr.Internalf("sigv4: the secret of access key %s is shorter than %d bytes, which FIPS 140-only mode refuses", a.AccessKeyID, MinFIPSSecretLen)
	}

	// The signature must be 64 lower-case hex digits; anything else cannot
	// match, and is answered like a mismatch, after the same work.
	got, sigOK := decodeSignature(a.Signature)

	// Signature. The canonical request is built in a pooled buffer and
	// hashed; the same buffer then holds the string to sign, which is MACed
	// with the (cached) signing key.
	buf := v.getBuffer()
	defer v.putBuffer(buf)
	if err := writeCanonicalRequest(buf, r, &a, &payloadHash, body); err != nil {
		return nil, err
	}
	creqHash := sha256.Sum256(*buf)
	b := (*buf)[:0]
	b = append(b, algorithm+"\n"...)
	b = append(b, amzDate[:]...)
	b = append(b, '\n')
	b = append(b, a.Date...)
	b = append(b, '/')
	b = append(b, a.Region...)
	b = append(b, '/')
	b = append(b, a.Service...)
	b = append(b, "/"+terminator+"\n"...)
	b = hex.AppendEncode(b, creqHash[:])

	key := v.keys.entry(sec.Key, a.Date, a.Region, a.Service)
	mac := key.mac()
	mac.Write(b)
	// The MAC is appended to b's own storage, which keeps it off the heap
	// (an argument of an interface method always escapes).
	want := mac.Sum(b[len(b):])
	key.release(mac)
	*buf = b

	match := hmac.Equal(want, got[:])
	clear(want) // the expected signature does not stay in the pooled buffer
	if !sigOK || !match {
		return nil, errMismatch()
	}

	// Session credentials: the token must be exactly the one issued with
	// this access key, and must be absent for a long-term key.
	tokens := r.Header["X-Amz-Security-Token"]
	token := ""
	switch {
	case len(tokens) > 1:
		return nil, kmserr.New(kmserr.UnrecognizedClient, msgInvalidSession)
	case len(tokens) == 1:
		token = tokens[0]
	}
	if token != "" || sec.SessionToken != "" {
		if subtle.ConstantTimeCompare([]byte(token), []byte(sec.SessionToken)) != 1 {
			return nil, kmserr.New(kmserr.UnrecognizedClient, msgInvalidSession)
		}
	}
	if !sec.Expires.IsZero() && !v.now().Before(sec.Expires) {
		return nil, kmserr.New(kmserr.ExpiredToken, msgExpiredToken)
	}

	return &Result{
		AccessKeyID:  a.AccessKeyID,
		Region:       a.Region,
		Service:      a.Service,
		SessionToken: token,
		SigningTime:  signingTime,
	}, nil
}

// maxPooledBuffer is the largest buffer kept for reuse; a request with a
// huge query string or header does not pin that much memory.
const maxPooledBuffer = 16 << 10

func (v *Verifier) getBuffer() *buffer {
	if b, ok := v.bufs.Get().(*buffer); ok {
		return b
	}
	b := make(buffer, 0, 1024)
	return &b
}

func (v *Verifier) putBuffer(b *buffer) {
	if cap(*b) > maxPooledBuffer {
		return
	}
	*b = (*b)[:0]
	v.bufs.Put(b)
}

// decodeSignature decodes a signature of exactly 64 lower-case hex digits.
func decodeSignature(s string) (sig [32]byte, ok bool) {
	if len(s) != 2*len(sig) {
		return sig, false
	}
	ok = true
	for i := range sig {
		hi, ok1 := lowerHexValue(s[2*i])
		lo, ok2 := lowerHexValue(s[2*i+1])
		ok = ok && ok1 && ok2
		sig[i] = hi<<4 | lo
	}
	return sig, ok
}

func lowerHexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// checkClock rejects a request time outside [now-skew, now+skew], with AWS's
// messages.
func (v *Verifier) checkClock(t time.Time) error {
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	now := v.now().UTC().Truncate(time.Second)
	if earliest := now.Add(-skew); t.Before(earliest) {
		return kmserr.New(kmserr.InvalidSignature, "Signature expired: %s is now earlier than %s (%s - %s)",
			t.UTC().Format(amzDateLayout), earliest.Format(amzDateLayout), now.Format(amzDateLayout), skewText(skew))
	}
	if latest := now.Add(skew); t.After(latest) {
		return kmserr.New(kmserr.InvalidSignature, "Signature not yet current: %s is still later than %s (%s + %s)",
			t.UTC().Format(amzDateLayout), latest.Format(amzDateLayout), now.Format(amzDateLayout), skewText(skew))
	}
	return nil
}

// skewText renders the window as AWS does ("5 min.").
func skewText(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min.", d/time.Minute)
	}
	return fmt.Sprintf("%d sec.", d/time.Second)
}

// checkSignedHeaders enforces the hardening policy: the host, the date, the
// operation, the content type and any session token must be signed, so that
// a captured signature cannot be replayed to another host, time, operation
// or principal.
func checkSignedHeaders(r *http.Request, a *authorization, dateHeader string) error {
	signed := func(name string) bool {
		for rest := a.SignedHeadersRaw; rest != ""; {
			var h string
			h, rest = nextSignedHeader(rest)
			if h == name {
				return true
			}
		}
		return false
	}
	if !signed("host") {
		return kmserr.New(kmserr.InvalidSignature, msgHostNotSigned)
	}
	if !signed(dateHeader) {
		name := "X-Amz-Date"
		if dateHeader == "date" {
			name = "Date"
		}
		return kmserr.New(kmserr.InvalidSignature, "'%s' must be a 'SignedHeader' in the AWS Authorization.", name)
	}
	for _, h := range [...]struct{ canon, lower string }{
		{"X-Amz-Target", "x-amz-target"},
		{"Content-Type", "content-type"},
		{"X-Amz-Security-Token", "x-amz-security-token"},
	} {
		if _, present := r.Header[h.canon]; present && !signed(h.lower) {
			return kmserr.New(kmserr.InvalidSignature, "'%s' must be a 'SignedHeader' in the AWS Authorization.", h.canon)
		}
	}
	return nil
}

// checkScope checks the credential scope against the request and the
// configuration. Like AWS, it reports every mismatch in one message, in the
// order region, service, terminator, date.
//
// amzDate is t formatted by formatAmzDate; its first eight bytes are the date
// the scope must carry.
func (v *Verifier) checkScope(a *authorization, t time.Time, amzDate *[len(amzDateLayout)]byte) error {
	badRegion := !validRegion(a.Region) || (v.Regions != nil && !v.Regions(a.Region))
	services := v.Services
	if len(services) == 0 {
		services = []string{"kms"}
	}
	badService := !slices.Contains(services, a.Service)
	badTerminator := a.Terminator != terminator
	badDate := a.Date != string(amzDate[:len(scopeDateLayout)])
	if !badRegion && !badService && !badTerminator && !badDate {
		return nil
	}
	// The message is built only for a request that fails.
	var b strings.Builder
	if badRegion {
		fmt.Fprintf(&b, "Credential should be scoped to a valid region, not '%s'. ", echo(a.Region))
	}
	if badService {
		fmt.Fprintf(&b, "Credential should be scoped to correct service: '%s'. ", services[0])
	}
	if badTerminator {
		fmt.Fprintf(&b, "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'. ", echo(a.Terminator))
	}
	if badDate {
		fmt.Fprintf(&b, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'. ",
			echo(a.Date), string(amzDate[:len(scopeDateLayout)]), t.UTC().Format(amzDateLayout))
	}
	return kmserr.New(kmserr.InvalidSignature, "%s", b.String())
}

// checkPayload returns the payload hash for the canonical request: always
// the SHA-256 of the body the server received. A client-declared
// X-Amz-Content-Sha256 must match it; unsigned and streaming payloads are
// refused.
func checkPayload(r *http.Request, body []byte) (hash [64]byte, err error) {
	sum := sha256.Sum256(body)
	hex.Encode(hash[:], sum[:])
	declared := r.Header["X-Amz-Content-Sha256"]
	switch {
	case len(declared) == 0:
		return hash, nil
	case len(declared) > 1:
		return hash, kmserr.New(kmserr.InvalidSignature, "Request has more than one 'x-amz-content-sha256' header.")
	}
	d := strings.TrimSpace(declared[0])
	if d == "UNSIGNED-PAYLOAD" || strings.HasPrefix(d, "STREAMING-") {
		return hash, kmserr.New(kmserr.InvalidSignature,
			"The payload must be signed: 'x-amz-content-sha256' of '%s' is not accepted by this service.", echo(d))
	}
	if d != string(hash[:]) {
		return hash, kmserr.New(kmserr.InvalidSignature,
			"The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return hash, nil
}

// isPresigned reports whether r carries SigV4 query-string authentication.
func isPresigned(r *http.Request) bool {
	if r.URL == nil {
		return false
	}
	q := r.URL.RawQuery
	return strings.Contains(q, "X-Amz-Signature=") || strings.Contains(q, "X-Amz-Credential=") ||
		strings.Contains(q, "X-Amz-Algorithm=")
}
