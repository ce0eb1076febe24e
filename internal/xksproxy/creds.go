package xksproxy

import (
	"context"
	"fmt"

	"github.com/kmsd/kmsd/internal/api/sigv4"
	"github.com/kmsd/kmsd/internal/secret"
)

// Credential is one SigV4 credential AWS KMS signs XKS requests with. Two
// or more are configured while they are rotated.
type Credential struct {
	AccessKeyID string
	Secret      secret.Bytes
}

// ValidateCredential checks a credential against the specification's
// rules (Appendix A and the proxy configuration file): an access key id of
// 20 to 30 characters A–Z and 2–7, and a secret of 43 to 64 characters
// A–Z, a–z, 0–9, +, / and =. The error names the access key id, never the
// secret.
func ValidateCredential(c Credential) error {
	if n := len(c.AccessKeyID); n < 20 || n > 30 || !only(c.AccessKeyID, isBase32Char) {
		return fmt.Errorf("XKS access key id %q must be 20 to 30 characters, each A-Z or 2-7 (for example: head -c 15 /dev/urandom | base32)", c.AccessKeyID)
	}
	if n := len(c.Secret); n < 43 || n > 64 || !only(string(c.Secret), isSecretChar) {
		return fmt.Errorf("the XKS secret access key of %s must be 43 to 64 characters, each A-Z, a-z, 0-9, +, / or = (for example: openssl rand -base64 32)", c.AccessKeyID)
	}
	return nil
}

func only(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isBase32Char(c byte) bool { return 'A' <= c && c <= 'Z' || '2' <= c && c <= '7' }

func isSecretChar(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '='
}

// credentialSet answers the SigV4 verifier's look-ups. The access key id
// is public; the secret is only ever used as an HMAC key, and signatures
// are compared in constant time by the verifier.
type credentialSet map[string]secret.Bytes

func newCredentialSet(creds []Credential) (credentialSet, error) {
	if len(creds) == 0 {
		return nil, fmt.Errorf("the XKS proxy needs at least one credential (access key id and secret access key)")
	}
	set := credentialSet{}
	for _, c := range creds {
		if err := ValidateCredential(c); err != nil {
			return nil, err
		}
		if _, dup := set[c.AccessKeyID]; dup {
			return nil, fmt.Errorf("XKS access key id %s is configured twice; each must name one secret", c.AccessKeyID)
		}
		set[c.AccessKeyID] = c.Secret.Clone()
	}
	return set, nil
}

func (s credentialSet) SigningSecret(_ context.Context, accessKeyID string) (sigv4.Secret, error) {
	sec, ok := s[accessKeyID]
	if !ok {
		return sigv4.Secret{}, sigv4.ErrUnknownAccessKey
	}
	return sigv4.Secret{Key: sec}, nil
}
