package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/identity"
	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/kmserr"
)

// Authenticator establishes who sent a request.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request, body []byte) (kms.Caller, error)
}

// Permissive accepts any credentials, or none, and maps every request to the
// root of one account, in the Region of the request's SigV4 scope. It is the
// default of `kmsd dev`, as local KMS emulators behave.
type Permissive struct {
	AccountID     string
	DefaultRegion string
	// Regions reports whether a request may be scoped to a Region; nil
	// accepts any name of a Region's form. A scope naming another Region is
	// refused as AWS refuses it, so that a misspelt Region does not open an
	// empty namespace of its own.
	Regions func(region string) bool
}

// Authenticate reads the scope without verifying the signature. A request
// a browser sent for a page of another origin is refused: kmsd answers no
// CORS preflight, but a form-encoded POST (an IAM or STS call) needs none,
// so without this any web page the developer opens could act as the root.
func (p Permissive) Authenticate(_ context.Context, r *http.Request, _ []byte) (kms.Caller, error) {
	if err := RefuseForeignPage(r); err != nil {
		return kms.Caller{}, err
	}
	akid, region := scopeOf(r.Header.Get("Authorization"))
	switch {
	case region == "":
		region = p.DefaultRegion
	case !validRegion(region) || (p.Regions != nil && !p.Regions(region)):
		return kms.Caller{}, errInvalidRegion(region)
	}
	c := kms.RootCaller(p.AccountID, region)
	c.AccessKeyID = akid
	return c, nil
}

// errInvalidRegion is AWS's answer to a request whose credential scope
// names a Region its endpoint does not serve.
func errInvalidRegion(region string) error {
	return kmserr.New(kmserr.InvalidSignature, "Credential should be scoped to a valid region, not '%s'. ", printable(region))
}

// printable makes a client-supplied value safe to repeat in a message:
// printable ASCII, at most 64 bytes.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// scopeOf extracts the access key id and Region from a SigV4 Authorization
// header, or returns empty strings when it has no credential scope.
func scopeOf(auth string) (akid, region string) {
	parts := strings.Split(credentialOf(auth), "/")
	if len(parts) != 5 {
		return "", ""
	}
	return parts[0], parts[2]
}

// Principals maps a verified access key to the principal that owns it.
type Principals interface {
	Principal(ctx context.Context, accessKeyID string) (kms.Caller, error)
}

// Strict verifies every request's SigV4 signature and maps its access key
// to a principal.
type Strict struct {
	Verifier   *sigv4.Verifier
	Principals Principals
}

// Authenticate verifies the signature, then looks up the principal. A
// refusal carries AWS's exception and text for the client and, for the
// server's log only, which access key and scope it was about and why.
func (s Strict) Authenticate(ctx context.Context, r *http.Request, body []byte) (kms.Caller, error) {
	res, err := s.Verifier.Verify(ctx, r, body)
	if err != nil {
		return kms.Caller{}, s.explain(ctx, r, err)
	}
	c, err := s.Principals.Principal(ctx, res.AccessKeyID)
	if err != nil {
		return kms.Caller{}, &kmserr.Error{Code: kmserr.UnrecognizedClient, Message: msgInvalidToken,
			Cause: fmt.Errorf("authentication failed: access key %s verified but has no principal: %w", res.AccessKeyID, err)}
	}
	c.Region = res.Region
	c.AccessKeyID = res.AccessKeyID
	return c, nil
}

const msgInvalidToken = "The security token included in the request is invalid."

// explain adds to a refused signature the reason an operator needs: the
// access key and credential scope, and whether the key is unknown, the
// session token wrong, or which check of the signature failed (AWS's own
// text says which for the date, the scope and a mismatch). It never holds
// the secret or the signature.
func (s Strict) explain(ctx context.Context, r *http.Request, err error) error {
	e := kmserr.As(err)
	if e.Cause != nil {
		return e
	}
	cred := credentialOf(r.Header.Get("Authorization"))
	akid, _, _ := strings.Cut(cred, "/")
	reason := e.Message
	if e.Code == kmserr.UnrecognizedClient && akid != "" && s.Verifier.Credentials != nil {
		// The lookup is repeated on this failure path only, so a verified
		// request pays nothing for the explanation.
		_, lerr := s.Verifier.Credentials.SigningSecret(ctx, akid)
		switch {
		case errors.Is(lerr, sigv4.ErrUnknownAccessKey):
			reason = "the access key is not known to this server (never created, or deleted)"
		case lerr == nil:
			reason = "the X-Amz-Security-Token header is missing, or is not the session token issued with this access key"
		}
	}
	if cred == "" {
		cred = "(none)"
	}
	return &kmserr.Error{Code: e.Code, Message: e.Message,
		Cause: fmt.Errorf("authentication failed: credential %s: %s: %s", printable(cred), e.Code, reason)}
}

// credentialOf returns the Credential parameter of a SigV4 Authorization
// header (access key id and scope), or "".
func credentialOf(auth string) string {
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return ""
	}
	cred := auth[i+len("Credential="):]
	if j := strings.IndexAny(cred, ", "); j >= 0 {
		cred = cred[:j]
	}
	return cred
}

// causeLevel is the level at which a failed request's cause is logged: a
// client's failed authentication is a warning, anything else an error.
func causeLevel(code string) slog.Level {
	switch code {
	case kmserr.InvalidSignature, kmserr.IncompleteSignature, kmserr.UnrecognizedClient,
		kmserr.ExpiredToken, kmserr.MissingAuthenticationToken:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// validRegion accepts Region names of AWS's shape (us-east-1, eu-central-2,
// or a private name like local-1): lower-case letters, digits and dashes.
func validRegion(r string) bool {
	if r == "" || len(r) > 32 {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Identities adapts an identity store to SigV4 verification and principal
// lookup: long-term keys of account roots and IAM users, and the session
// credentials AssumeRole issues.
type Identities struct{ Store *identity.Store }

// SigningSecret returns the secret of an access key and, for session
// credentials, the token the request must carry and when it expires.
func (i Identities) SigningSecret(ctx context.Context, akid string) (sigv4.Secret, error) {
	c, err := i.Store.Credential(ctx, akid)
	if errors.Is(err, identity.ErrUnknownAccessKey) {
		return sigv4.Secret{}, sigv4.ErrUnknownAccessKey
	}
	if err != nil {
		return sigv4.Secret{}, err
	}
	sec := sigv4.Secret{Key: c.Secret, Expires: c.Expires}
	if len(c.SessionToken) > 0 {
		sec.SessionToken = string(c.SessionToken)
	}
	return sec, nil
}

// Principal returns the caller an access key stands for: the account root,
// an IAM user (arn:aws:iam::ACCT:user/NAME) or a role session
// (arn:aws:sts::ACCT:assumed-role/ROLE/SESSION).
func (i Identities) Principal(ctx context.Context, akid string) (kms.Caller, error) {
	c, err := i.Store.Credential(ctx, akid)
	if err != nil {
		return kms.Caller{}, err
	}
	p := &c.Principal
	return kms.Caller{AccountID: p.AccountID, ARN: p.ARN, PrincipalID: p.PrincipalID, Type: p.Type, UserName: p.UserName}, nil
}

// RefuseForeignPage refuses a request that carries a browser's Origin
// header unless the page is kmsd's own (its console), reached by an IP
// address, localhost, or over TLS: a page of another origin is refused, and
// so is a page at a DNS name rebound to kmsd's address (same origin as far
// as the browser knows). SDKs and the CLI
// send no Origin, so they are not affected.
func RefuseForeignPage(r *http.Request) error {
	origin, ok := r.Header["Origin"]
	if !ok {
		return nil
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	same := len(origin) == 1 && origin[0] == scheme+r.Host
	if same && (r.TLS != nil || unrebindable(r.Host)) {
		return nil
	}
	return kmserr.New(kmserr.MissingAuthenticationToken, "Request is missing Authentication Token: kmsd dev accepts unsigned calls from its own console and from programs, not from a page of another origin (%s).", printable(strings.Join(origin, ",")))
}

// unrebindable reports whether a Host header is an IP address or
// localhost, which no DNS answer can point elsewhere.
func unrebindable(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	return net.ParseIP(strings.Trim(host, "[]")) != nil
}
