package kms

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
)

// A grant token names one grant and proves it was issued by CreateGrant for
// that grant. It is base64url (no padding) of
//
//	version (1) | len(region) (1) | region | account (12) | len(key id) (1) |
//	key id | grant id (32) | nonce (16) | HMAC-SHA256 tag (32)
//
// The tag is keyed by a random secret kept, sealed, with the grant, and
// covers every byte before it. Every CreateGrant call returns a fresh nonce,
// so repeated calls for the same grant give distinct tokens that are all
// valid for it, as AWS documents. AWS calls grant tokens opaque and not
// secret: kmsd needs none to authorize on a single store, and uses one to
// find the grant in RetireGrant.
const (
	grantTokenVersion = 1
	grantTokenNonce   = 16
	grantTokenTag     = sha256.Size
	grantIDBytes      = 32
	grantKeyBytes     = 32
	grantTokenDomain  = "kmsd/grant-token/v1"
)

var errInvalidGrantToken = kmserr.New(kmserr.InvalidGrantToken, "Invalid grant token")

// grantTokenRef is a parsed grant token.
type grantTokenRef struct {
	region, account, keyID, grantID string
	signed, tag                     []byte
}

// newGrantID returns a fresh grant id: 64 hex digits, as AWS's look.
func newGrantID() string {
	b := make([]byte, grantIDBytes)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func validGrantID(id string) bool {
	if len(id) != 2*grantIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// grantKeyAAD binds a sealed token key to its grant.
func grantKeyAAD(g *grantRecord) []byte {
	return []byte("kmsd/grant-token-key/v1|" + partition(g.AccountID, g.Region) + "|" + g.KeyID + "|" + g.GrantID)
}

// newGrantKey makes and seals the secret that signs a grant's tokens.
func (s *Service) newGrantKey(g *grantRecord) error {
	k := make(secret.Bytes, grantKeyBytes)
	_, _ = rand.Read(k)
	defer k.Wipe()
	sealed, err := s.sealer.Seal(k, grantKeyAAD(g))
	if err != nil {
		return fmt.Errorf("seal token key of grant %s: %w", g.GrantID, err)
	}
	g.TokenKey = sealed
	return nil
}

// grantToken issues a new token for g.
func (s *Service) grantToken(g *grantRecord) (string, error) {
	k, err := s.sealer.Unseal(g.TokenKey, grantKeyAAD(g))
	if err != nil {
		return "", kmserr.Internalf("unseal token key of grant %s: %w", g.GrantID, err)
	}
	defer k.Wipe()
	id, err := hex.DecodeString(g.GrantID)
	if err != nil || len(id) != grantIDBytes {
		return "", kmserr.Internalf("grant %s: malformed id", g.GrantID)
	}
	b := make([]byte, 0, 3+len(g.Region)+12+len(g.KeyID)+grantIDBytes+grantTokenNonce+grantTokenTag)
	b = append(b, grantTokenVersion, byte(len(g.Region)))
	b = append(b, g.Region...)
	b = append(b, g.AccountID...)
	b = append(b, byte(len(g.KeyID)))
	b = append(b, g.KeyID...)
	b = append(b, id...)
	nonce := make([]byte, grantTokenNonce)
	_, _ = rand.Read(nonce)
	b = append(b, nonce...)
	b = append(b, grantTokenMAC(k, b)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func grantTokenMAC(k secret.Bytes, signed []byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(grantTokenDomain))
	m.Write(signed)
	return m.Sum(nil)
}

// parseGrantToken reads a token's fields without verifying its tag; a
// token kmsd cannot have issued is InvalidGrantTokenException.
func parseGrantToken(tok string) (*grantTokenRef, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || b[0] != grantTokenVersion {
		return nil, errInvalidGrantToken
	}
	r := &grantTokenRef{}
	rest := b[1:]
	field := func(n int) ([]byte, bool) {
		if n > len(rest) {
			return nil, false
		}
		f := rest[:n]
		rest = rest[n:]
		return f, true
	}
	n, _ := field(1)
	region, ok := field(int(n[0]))
	if !ok || !validRegionName(string(region)) {
		return nil, errInvalidGrantToken
	}
	account, ok := field(12)
	if !ok || !isAccountNumber(string(account)) {
		return nil, errInvalidGrantToken
	}
	n, ok = field(1)
	if !ok {
		return nil, errInvalidGrantToken
	}
	keyID, ok := field(int(n[0]))
	if !ok || !validKeyID(string(keyID)) {
		return nil, errInvalidGrantToken
	}
	id, ok := field(grantIDBytes)
	if !ok {
		return nil, errInvalidGrantToken
	}
	if _, ok := field(grantTokenNonce); !ok || len(rest) != grantTokenTag {
		return nil, errInvalidGrantToken
	}
	r.region, r.account, r.keyID, r.grantID = string(region), string(account), string(keyID), hex.EncodeToString(id)
	r.signed, r.tag = b[:len(b)-grantTokenTag], rest
	return r, nil
}

// verifyGrantToken checks the token's tag against the grant it names, in constant time.
func (s *Service) verifyGrantToken(r *grantTokenRef, g *grantRecord) error {
	k, err := s.sealer.Unseal(g.TokenKey, grantKeyAAD(g))
	if err != nil {
		return kmserr.Internalf("unseal token key of grant %s: %w", g.GrantID, err)
	}
	defer k.Wipe()
	if !hmac.Equal(grantTokenMAC(k, r.signed), r.tag) {
		return errInvalidGrantToken
	}
	return nil
}

// checkGrantTokens refuses a request whose grant tokens kmsd cannot have
// issued. A well-formed token needs no further check: on one store a grant
// is effective the moment CreateGrant returns, so tokens never add a
// permission, and a token of a retired grant grants nothing.
func checkGrantTokens(tokens []string) error {
	for _, t := range tokens {
		if _, err := parseGrantToken(t); err != nil {
			return err
		}
	}
	return nil
}

func isAccountNumber(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validRegionName accepts Region names of AWS's shape: lower-case
// letters, digits and dashes.
func validRegionName(r string) bool {
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
