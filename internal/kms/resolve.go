package kms

import (
	"context"
	"strings"

	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/uuid"
)

// keyRef is a parsed KeyId parameter: a key by id, or an alias, in an
// account and region.
type keyRef struct {
	account, region string
	keyID           string // set when the caller named the key itself
	alias           string // "alias/…" when the caller named an alias
	input           string
	caller          string // the caller's account (managed.go)
}

// How an operation lets its KeyId be written (AWS: management operations
// take a key ID or key ARN; cryptographic ones also an alias name or ARN).
const (
	keyOnly    = false
	keyOrAlias = true
)

func validKeyID(id string) bool {
	if strings.HasPrefix(id, "mrk-") {
		h := id[4:]
		if len(h) != 32 {
			return false
		}
		for i := 0; i < len(h); i++ {
			c := h[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
		return true
	}
	return uuid.Valid(id)
}

// validAccountID reports whether s is an AWS account ID: 12 digits.
func validAccountID(s string) bool {
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

// parseKeyRef parses a KeyId the way AWS does, in the caller's partition
// unless an ARN names another account.
func parseKeyRef(c *Caller, id string, allowAlias bool) (keyRef, error) {
	ref := keyRef{account: c.AccountID, region: c.Region, input: id, caller: c.AccountID}
	switch {
	case strings.HasPrefix(id, "arn:"):
		parts := strings.SplitN(id, ":", 6)
		if len(parts) != 6 || parts[1] == "" || parts[2] != "kms" || !validAccountID(parts[4]) {
			return ref, kmserr.New(kmserr.NotFound, "Invalid arn %s", id)
		}
		if parts[3] != c.Region {
			return ref, kmserr.New(kmserr.NotFound, "Invalid arn %s", parts[3])
		}
		ref.account = parts[4]
		res := parts[5]
		switch {
		case strings.HasPrefix(res, "key/") && validKeyID(res[4:]):
			ref.keyID = res[4:]
		case strings.HasPrefix(res, "alias/") && allowAlias:
			ref.alias = res
		case strings.HasPrefix(res, "alias/"):
			return ref, errAliasNotSupported()
		default:
			return ref, kmserr.New(kmserr.NotFound, "Invalid arn %s", id)
		}
	case strings.HasPrefix(id, "alias/") && allowAlias:
		ref.alias = id
	case strings.HasPrefix(id, "alias/"):
		return ref, errAliasNotSupported()
	case validKeyID(id):
		ref.keyID = id
	default:
		return ref, kmserr.New(kmserr.NotFound, "Invalid keyId '%s'", id)
	}
	return ref, nil
}

// resolve finds the key a ref names, its material unsealed. Missing keys
// and aliases give AWS's NotFoundException messages.
func (s *Service) resolve(ctx context.Context, ref keyRef) (*cachedKey, error) {
	return s.resolveKey(ctx, ref, true)
}

// resolveKey is resolve that unseals the material only when unseal is set.
func (s *Service) resolveKey(ctx context.Context, ref keyRef, unseal bool) (*cachedKey, error) {
	keyID := ref.keyID
	if ref.alias != "" {
		target, err := s.aliasTarget(ctx, ref.account, ref.region, ref.alias)
		if err != nil {
			return nil, kmserr.Internalf("resolve alias %s: %w", ref.alias, err)
		}
		if target == "" {
			// A predefined AWS alias gets its key on first use.
			if target, err = s.managedTarget(ctx, ref); err != nil {
				return nil, err
			}
		}
		if target == "" {
			return nil, kmserr.New(kmserr.NotFound, "Alias %s is not found.", aliasARN(ref.region, ref.account, ref.alias))
		}
		keyID = target
	}
	load := s.key
	if !unseal {
		load = s.keySealed
	}
	k, err := load(ctx, ref.account, ref.region, keyID)
	if err == errNoKey {
		return nil, errKeyNotFound(keyARN(ref.region, ref.account, keyID))
	}
	if err != nil {
		return nil, kmserr.Internalf("load key %s: %w", keyID, err)
	}
	return k, nil
}

// resolveFor is resolve for a caller about to be authorized for action. A
// caller of another account who names a key that does not exist gets what
// it would get for an existing key it may not use, AccessDeniedException,
// so the answer reveals nothing about which keys another account holds.
func (s *Service) resolveFor(ctx context.Context, c *Call, ref keyRef, action string) (*cachedKey, error) {
	return s.resolveKeyFor(ctx, c, ref, action, true)
}

// resolveKeyFor is resolveFor that unseals the material only when unseal
// is set.
func (s *Service) resolveKeyFor(ctx context.Context, c *Call, ref keyRef, action string, unseal bool) (*cachedKey, error) {
	k, err := s.resolveKey(ctx, ref, unseal)
	if err != nil && ref.account != c.Caller.AccountID && kmserr.CodeOf(err) == kmserr.NotFound {
		arn := keyARN(ref.region, ref.account, ref.keyID)
		if ref.alias != "" {
			arn = aliasARN(ref.region, ref.account, ref.alias)
		}
		return nil, AccessDenied(&c.Caller, action, arn, "because no resource-based policy allows the "+action+" action")
	}
	return k, err
}

// lookup parses, resolves and authorizes in one step, and records the key
// in the call's audit resources and for last-usage tracking. The key's
// material is unsealed unless action needs none (needsNoMaterial).
func (s *Service) lookup(ctx context.Context, c *Call, keyID string, allowAlias bool, action string, ec map[string]string, grantTokens []string) (*cachedKey, error) {
	ref, err := parseKeyRef(&c.Caller, keyID, allowAlias)
	if err != nil {
		return nil, err
	}
	k, err := s.resolveKeyFor(ctx, c, ref, action, !needsNoMaterial(action))
	if err != nil {
		return nil, err
	}
	c.touch(k.arn)
	c.use(k)
	if err := s.authorize(ctx, c, action, k, ec, grantTokens, ref.alias); err != nil {
		return nil, err
	}
	if err := refuseOnManaged(c, action, k); err != nil {
		return nil, err
	}
	return k, nil
}

// errAliasNotSupported is AWS's answer to an alias name or alias ARN given
// to an operation that takes only a key ID or key ARN.
func errAliasNotSupported() error {
	return kmserr.New(kmserr.InvalidArn, "Key Aliases are not supported for this operation.")
}

// errKeyNotFound is AWS's NotFoundException for a well-formed key id that
// names no key.
func errKeyNotFound(arn string) error {
	return kmserr.New(kmserr.NotFound, "Key '%s' does not exist", arn)
}
