package kms

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

// checkAliasName applies AWS's rules for a new alias name beyond the model's
// pattern (which the generated validation has checked): the alias/ prefix,
// the reserved alias/aws/ prefix, and no ':' although the pattern admits it
// (AWS allows only letters, digits, '/', '_' and '-').
func checkAliasName(name string) error {
	if !strings.HasPrefix(name, "alias/") {
		return kmserr.New(kmserr.Validation, `Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html`)
	}
	if strings.HasPrefix(name, "alias/aws/") {
		return kmserr.New(kmserr.NotAuthorized, "")
	}
	if strings.ContainsRune(name, ':') {
		return kmserr.New(kmserr.Validation, "%s contains invalid characters for an alias", name)
	}
	if len(name) == len("alias/") {
		return kmserr.New(kmserr.InvalidAliasName, "Alias name must not be empty after the alias/ prefix.")
	}
	return nil
}

// checkAliasTarget refuses an alias name or alias ARN as the key an alias
// points to, with AWS's message.
func checkAliasTarget(target string) error {
	if strings.HasPrefix(target, "alias/") || strings.HasPrefix(target, "arn:") && strings.Contains(target, ":alias/") {
		return kmserr.New(kmserr.Validation, "Aliases must refer to keys. Not aliases")
	}
	return nil
}

// CreateAlias names a key.
func (s *Service) CreateAlias(ctx context.Context, c *Call, in *kmsapi.CreateAliasInput) (*kmsapi.CreateAliasOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := checkAliasName(in.AliasName); err != nil {
		return nil, err
	}
	if err := checkAliasTarget(in.TargetKeyId); err != nil {
		return nil, err
	}
	k, err := s.lookup(ctx, c, in.TargetKeyId, keyOnly, "kms:CreateAlias", nil, nil)
	if err != nil {
		return nil, err
	}
	if k.rec.AccountID != c.Caller.AccountID {
		return nil, errKeyNotFound(k.arn)
	}
	acct, region := c.Caller.AccountID, c.Caller.Region
	err = s.store.Update(ctx, func(tx store.Tx) error {
		r, err := loadKey(tx, acct, region, k.rec.KeyID)
		if errors.Is(err, store.ErrNotFound) {
			return errKeyNotFound(k.arn)
		}
		if err != nil {
			return err
		}
		if err := checkState(&cachedKey{rec: r, arn: k.arn}, ruleManage); err != nil {
			return err
		}
		if _, err := loadAlias(tx, acct, region, in.AliasName); err == nil {
			return kmserr.New(kmserr.AlreadyExists, "An alias with the name %s already exists", aliasARN(region, acct, in.AliasName))
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := s.checkAliasQuota(tx, acct, region, r.KeyID); err != nil {
			return err
		}
		now := s.now()
		return putAlias(tx, acct, region, &aliasRecord{Name: in.AliasName, TargetKeyID: r.KeyID, Created: now, Updated: now})
	})
	// The key's kms:ResourceAliases changes with its aliases.
	s.cache.invalidate(cacheAlias(acct, region, in.AliasName), cacheKeyID(acct, region, k.rec.KeyID))
	if err != nil {
		return nil, storeErr(err, "create alias")
	}
	return &kmsapi.CreateAliasOutput{}, nil
}

// loadKeyAliases returns the names of the aliases of a key, sorted.
func loadKeyAliases(tx store.Tx, account, region, keyID string) ([]string, error) {
	return keyAliasNames(tx, account, region, keyID)
}

func (s *Service) checkAliasQuota(tx store.Tx, acct, region, keyID string) error {
	names, err := keyAliasNames(tx, acct, region, keyID)
	if err != nil {
		return err
	}
	if n := len(names); n >= s.limits.AliasesPerKey {
		return kmserr.New(kmserr.LimitExceeded, "The key %s already has %d aliases, the maximum.", keyARN(region, acct, keyID), n)
	}
	return nil
}

// UpdateAlias points an existing alias at another key of the same type.
func (s *Service) UpdateAlias(ctx context.Context, c *Call, in *kmsapi.UpdateAliasInput) (*kmsapi.UpdateAliasOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := checkAliasName(in.AliasName); err != nil {
		return nil, err
	}
	if err := checkAliasTarget(in.TargetKeyId); err != nil {
		return nil, err
	}
	acct, region := c.Caller.AccountID, c.Caller.Region
	k, err := s.lookup(ctx, c, in.TargetKeyId, keyOnly, "kms:UpdateAlias", nil, nil)
	if err != nil {
		return nil, err
	}
	if k.rec.AccountID != acct {
		return nil, errKeyNotFound(k.arn)
	}
	var oldTarget string
	err = s.store.Update(ctx, func(tx store.Tx) error {
		a, err := loadAlias(tx, acct, region, in.AliasName)
		if errors.Is(err, store.ErrNotFound) {
			return kmserr.New(kmserr.NotFound, "Alias %s is not found.", aliasARN(region, acct, in.AliasName))
		}
		if err != nil {
			return err
		}
		oldTarget = a.TargetKeyID
		r, err := loadKey(tx, acct, region, k.rec.KeyID)
		if errors.Is(err, store.ErrNotFound) {
			return errKeyNotFound(k.arn)
		}
		if err != nil {
			return err
		}
		if r.KeyState == statePendingDeletion || r.KeyState == statePendingReplicaDeletion {
			return kmserr.New(kmserr.InvalidState, "%s is pending deletion.", k.arn)
		}
		if old, err := loadKey(tx, acct, region, a.TargetKeyID); err == nil {
			c.touch(old.arn())
			// AWS requires the same type (symmetric, asymmetric or HMAC)
			// and key usage, not the same key spec: RSA_2048 to
			// ECC_NIST_P256 signing keys is allowed.
			if keyType(old.KeySpec) != keyType(r.KeySpec) || old.KeyUsage != r.KeyUsage {
				return kmserr.New(kmserr.Validation, "Alias %s is associated with %s key with key usage %s. The new target key %s must be of the same type (symmetric, asymmetric or HMAC) and have the same key usage.", in.AliasName, keyType(old.KeySpec), old.KeyUsage, k.arn)
			}
		}
		if a.TargetKeyID == r.KeyID {
			return nil
		}
		if err := s.checkAliasQuota(tx, acct, region, r.KeyID); err != nil {
			return err
		}
		a.TargetKeyID = r.KeyID
		a.Updated = s.now()
		return putAlias(tx, acct, region, a)
	})
	// Both keys' kms:ResourceAliases change.
	invalid := []string{cacheAlias(acct, region, in.AliasName), cacheKeyID(acct, region, k.rec.KeyID)}
	if oldTarget != "" {
		invalid = append(invalid, cacheKeyID(acct, region, oldTarget))
	}
	s.cache.invalidate(invalid...)
	if err != nil {
		return nil, storeErr(err, "update alias")
	}
	return &kmsapi.UpdateAliasOutput{}, nil
}

// DeleteAlias removes an alias; the key is not affected.
func (s *Service) DeleteAlias(ctx context.Context, c *Call, in *kmsapi.DeleteAliasInput) (*kmsapi.DeleteAliasOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(in.AliasName, "alias/") {
		return nil, kmserr.New(kmserr.Validation, `Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html`)
	}
	acct, region := c.Caller.AccountID, c.Caller.Region
	target, err := s.aliasTarget(ctx, acct, region, in.AliasName)
	if err != nil {
		return nil, kmserr.Internalf("delete alias: %w", err)
	}
	if target == "" {
		return nil, kmserr.New(kmserr.NotFound, "Alias %s is not found.", aliasARN(region, acct, in.AliasName))
	}
	// A dangling alias (its key already gone) can still be deleted.
	if _, err := s.lookup(ctx, c, target, keyOnly, "kms:DeleteAlias", nil, nil); err != nil && kmserr.CodeOf(err) != kmserr.NotFound {
		return nil, err
	}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		a, err := loadAlias(tx, acct, region, in.AliasName)
		if errors.Is(err, store.ErrNotFound) {
			return kmserr.New(kmserr.NotFound, "Alias %s is not found.", aliasARN(region, acct, in.AliasName))
		} else if err != nil {
			return err
		}
		return deleteAlias(tx, acct, region, a.TargetKeyID, a.Name)
	})
	// The key's kms:ResourceAliases loses the alias.
	s.cache.invalidate(cacheAlias(acct, region, in.AliasName), cacheKeyID(acct, region, target))
	if err != nil {
		return nil, storeErr(err, "delete alias")
	}
	return &kmsapi.DeleteAliasOutput{}, nil
}

// ListAliases pages through the account's aliases, optionally those of one key.
func (s *Service) ListAliases(ctx context.Context, c *Call, in *kmsapi.ListAliasesInput) (*kmsapi.ListAliasesOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	acct, region := c.Caller.AccountID, c.Caller.Region
	filter := ""
	if in.KeyId != "" {
		k, err := s.lookup(ctx, c, in.KeyId, keyOnly, "kms:ListAliases", nil, nil)
		if err != nil {
			return nil, err
		}
		filter = k.rec.KeyID
	} else if err := s.authorize(ctx, c, "kms:ListAliases", nil, nil, nil, ""); err != nil {
		return nil, err
	}
	limit := limitOf(in.Limit, 50)
	after, err := decodeMarker(in.Marker)
	if err != nil {
		return nil, err
	}
	prefix := []byte(partition(acct, region))
	out := &kmsapi.ListAliasesOutput{Aliases: []kmsapi.AliasListEntry{}, Truncated: kmsapi.Bool(false)}
	cursor := markerKey(prefix, after)
	err = s.store.View(ctx, func(tx store.Tx) error {
		for {
			kvs, err := tx.Scan(bucketAliases, prefix, cursor, 500)
			if err != nil {
				return err
			}
			for _, kv := range kvs {
				var a aliasRecord
				if err := json.Unmarshal(kv.Value, &a); err != nil {
					return err
				}
				if filter != "" && a.TargetKeyID != filter {
					continue
				}
				if len(out.Aliases) == limit {
					out.Truncated = kmsapi.Bool(true)
					out.NextMarker = encodeMarker(out.Aliases[limit-1].AliasName)
					return nil
				}
				out.Aliases = append(out.Aliases, kmsapi.AliasListEntry{
					AliasName: a.Name, AliasArn: aliasARN(region, acct, a.Name), TargetKeyId: a.TargetKeyID,
					CreationDate: kmsapi.Time(a.Created), LastUpdatedDate: kmsapi.Time(a.Updated),
				})
			}
			if len(kvs) < 500 {
				return nil
			}
			cursor = kvs[len(kvs)-1].Key
		}
	})
	if err != nil {
		return nil, kmserr.Internalf("list aliases: %w", err)
	}
	if filter == "" {
		mergePredefined(out, acct, region, after, limit)
	}
	return out, nil
}
