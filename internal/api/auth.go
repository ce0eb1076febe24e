package api

import (
	"context"
	"errors"
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
}

// Authenticate reads the scope without verifying the signature.
func (p Permissive) Authenticate(_ context.Context, r *http.Request, _ []byte) (kms.Caller, error) {
	akid, region := scopeOf(r.Header.Get("Authorization"))
	if region == "" {
		region = p.DefaultRegion
	}
	c := kms.RootCaller(p.AccountID, region)
	c.AccessKeyID = akid
	return c, nil
}

// scopeOf extracts the access key id and Region from a SigV4 Authorization
// header, or returns empty strings.
func scopeOf(auth string) (akid, region string) {
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return "", ""
	}
	cred := auth[i+len("Credential="):]
	if j := strings.IndexAny(cred, ", "); j >= 0 {
		cred = cred[:j]
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || !validRegion(parts[2]) {
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

// Authenticate verifies the signature, then looks up the principal.
func (s Strict) Authenticate(ctx context.Context, r *http.Request, body []byte) (kms.Caller, error) {
	res, err := s.Verifier.Verify(ctx, r, body)
	if err != nil {
		return kms.Caller{}, err
	}
	c, err := s.Principals.Principal(ctx, res.AccessKeyID)
	if err != nil {
		return kms.Caller{}, kmserr.New(kmserr.UnrecognizedClient, "The security token included in the request is invalid.")
	}
	c.Region = res.Region
	c.AccessKeyID = res.AccessKeyID
	return c, nil
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
