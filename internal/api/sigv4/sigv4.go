package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
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
	authz := r.Header.Values("Authorization")
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

	amzDates := r.Header.Values("X-Amz-Date")
	httpDates := r.Header.Values("Date")
	a, err := parseAuthorization(authz[0], len(amzDates) > 0 || len(httpDates) > 0)
	if err != nil {
		return nil, err
	}

	// Request time, and the header that carries it.
	var signingTime time.Time
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

	if err := checkSignedHeaders(r, a, dateHeader); err != nil {
		return nil, err
	}
	if err := v.checkScope(a, signingTime); err != nil {
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

	// Signature. The canonical request is built in a buffer, hashed, and the
	// string to sign is MACed with the (cached) signing key.
	canonical := make(buffer, 0, 512+len(r.URL.RawQuery))
	if err := writeCanonicalRequest(&canonical, r, a, &payloadHash, body); err != nil {
		return nil, err
	}
	creqHash := sha256.Sum256(canonical)
	var amzDate [len(amzDateLayout)]byte
	signingTime.UTC().AppendFormat(amzDate[:0], amzDateLayout)

	key := v.keys.signingKey(sec.Key, a.Date, a.Region, a.Service)
	mac := hmac.New(sha256.New, key[:])
	var hexHash [64]byte
	hex.Encode(hexHash[:], creqHash[:])
	mac.Write([]byte(algorithm + "\n"))
	mac.Write(amzDate[:])
	mac.Write([]byte("\n" + a.Date + "/" + a.Region + "/" + a.Service + "/" + terminator + "\n"))
	mac.Write(hexHash[:])
	var want [32]byte
	mac.Sum(want[:0])
	clear(key[:])

	var got [32]byte
	if len(a.Signature) != 64 || !isLowerHex(a.Signature) {
		return nil, errMismatch()
	}
	if _, err := hex.Decode(got[:], []byte(a.Signature)); err != nil {
		return nil, errMismatch()
	}
	if !hmac.Equal(want[:], got[:]) {
		return nil, errMismatch()
	}

	// Session credentials: the token must be exactly the one issued with
	// this access key, and must be absent for a long-term key.
	tokens := r.Header.Values("X-Amz-Security-Token")
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
		_, ok := slices.BinarySearch(a.SignedHeaders, name)
		return ok
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
func (v *Verifier) checkScope(a *authorization, t time.Time) error {
	var b strings.Builder
	if !validRegion(a.Region) || (v.Regions != nil && !v.Regions(a.Region)) {
		fmt.Fprintf(&b, "Credential should be scoped to a valid region, not '%s'. ", echo(a.Region))
	}
	services := v.Services
	if len(services) == 0 {
		services = []string{"kms"}
	}
	if !slices.Contains(services, a.Service) {
		fmt.Fprintf(&b, "Credential should be scoped to correct service: '%s'. ", services[0])
	}
	if a.Terminator != terminator {
		fmt.Fprintf(&b, "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'. ", echo(a.Terminator))
	}
	var day [len(scopeDateLayout)]byte
	if want := t.UTC().AppendFormat(day[:0], scopeDateLayout); a.Date != string(want) {
		fmt.Fprintf(&b, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'. ",
			echo(a.Date), want, t.UTC().Format(amzDateLayout))
	}
	if b.Len() > 0 {
		return kmserr.New(kmserr.InvalidSignature, "%s", b.String())
	}
	return nil
}

// checkPayload returns the payload hash for the canonical request: always
// the SHA-256 of the body the server received. A client-declared
// X-Amz-Content-Sha256 must match it; unsigned and streaming payloads are
// refused.
func checkPayload(r *http.Request, body []byte) (hash [64]byte, err error) {
	sum := sha256.Sum256(body)
	hex.Encode(hash[:], sum[:])
	declared := r.Header.Values("X-Amz-Content-Sha256")
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

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
