package kms

import (
	"context"
	"errors"
	"fmt"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/policy"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// cachedKey is an immutable snapshot of a key record. Writers never change
// one; they store a new record and invalidate. Its material is unsealed on
// the first use that needs it (cache_unseal.go): materials and asym are
// read only after unseal returned.
type cachedKey struct {
	rec *keyRecord
	arn string
	// materials are the unsealed versions, the current one first: a slice,
	// not a map, as nearly every key has one.
	materials []namedMaterial
	one       [1]namedMaterial // materials' array when there is one version
	current   keys.MaterialID
	tags      map[string]string
	// asym is the parsed private key of an asymmetric key's current material.
	asym   *keys.AsymmetricKey
	unseal unsealOnce
	// grants are the key's grants, loaded with the record in one
	// transaction and indexed by grantee (grantset.go).
	grants *grantSet
	// policy is rec.Policy parsed, and conds the key's own condition keys,
	// for the authorizer.
	policy *policy.Policy
	conds  policy.Context
	bound  *boundPolicy // the policy's principals bound to unique ids (principals.go)
	// sharedConds holds conds for every cached key that has the same ones
	// (cache_policy.go); kept here so the table keeps it while k is used.
	sharedConds *sharedConds
	// entry is k's place in the cache, kept in k itself (one heap object
	// fewer for each cached key); entry.key is the cache key it is held
	// under, "" for a key never offered to the cache.
	entry cacheEntry
}

// namedMaterial is a version of a key's material, unsealed.
type namedMaterial struct {
	id string // KeyMaterialId
	pt secret.Bytes
}

// material returns the unsealed material version id.
func (k *cachedKey) material(id string) (secret.Bytes, bool) {
	for _, m := range k.materials {
		if m.id == id {
			return m.pt, true
		}
	}
	return nil, false
}

// materialOf is material without the flag: nil when there is none.
func (k *cachedKey) materialOf(id string) secret.Bytes {
	pt, _ := k.material(id)
	return pt
}

// currentMaterial returns the current material version.
func (k *cachedKey) currentMaterial() (secret.Bytes, bool) {
	if len(k.materials) == 0 || k.rec.CurrentMaterial == "" || k.materials[0].id != k.rec.CurrentMaterial {
		return nil, false
	}
	return k.materials[0].pt, true
}

func (k *cachedKey) view() *KeyView {
	return &KeyView{
		ARN: k.arn, AccountID: k.rec.AccountID, Region: k.rec.Region, Policy: k.rec.Policy,
		KeySpec: k.rec.KeySpec, KeyUsage: k.rec.KeyUsage, Origin: k.rec.Origin, Tags: k.tags,
		KeyPolicy: k.policy, Conditions: k.conds, bound: k.bound,
	}
}

func cacheKeyID(account, region, keyID string) string {
	return "k|" + partition(account, region) + keyID
}
func cacheAlias(account, region, name string) string { return "a|" + partition(account, region) + name }

var errNoKey = errors.New("key not found")

// key returns the key with its material unsealed, from cache or store.
func (s *Service) key(ctx context.Context, account, region, keyID string) (*cachedKey, error) {
	k, err := s.keySealed(ctx, account, region, keyID)
	if err != nil {
		return nil, err
	}
	if err := s.unsealKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

// keySealed is key for a use that needs no material (DescribeKey): a key
// loaded from the store is cached with its material still sealed.
func (s *Service) keySealed(ctx context.Context, account, region, keyID string) (*cachedKey, error) {
	ck := cacheKeyID(account, region, keyID)
	if v, ok := s.cache.get(ck); ok {
		return v.(*cachedKey), nil
	}
	gen := s.cache.gen.Load()
	var rec *keyRecord
	var grants []*grantRecord
	var aliases []string
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		if rec, err = loadKeyFast(tx, account, region, keyID); err != nil {
			return err
		}
		if grants, err = loadGrants(tx, partition(account, region), keyID); err != nil {
			return err
		}
		aliases, err = loadKeyAliases(tx, account, region, keyID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoKey
	}
	if err != nil {
		return nil, err
	}
	k, err := s.sealedSnapshot(rec, false)
	if err != nil {
		return nil, err
	}
	k.grants = newGrantSet(grants)
	// kms:ResourceAliases: an alias change invalidates the key it leaves
	// and the key it joins (aliases.go), so this stays current.
	k.sharedConds = s.cache.conds.forKey(rec, aliases)
	k.conds = k.sharedConds.c
	k.entry = cacheEntry{key: ck, v: k}
	s.cache.addEntry(&k.entry, gen)
	return k, nil
}

// snapshot unseals a record's material into a cachedKey.
func (s *Service) snapshot(rec *keyRecord) (*cachedKey, error) {
	k, err := s.sealedSnapshot(rec, true)
	if err != nil {
		return nil, err
	}
	if err := s.unsealKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

// sealedSnapshot is snapshot with the material left sealed. It builds the
// key's own condition keys only when conds is set (keySealed shares them
// instead).
func (s *Service) sealedSnapshot(rec *keyRecord, conds bool) (*cachedKey, error) {
	k := &cachedKey{rec: rec, arn: rec.arn(), tags: rec.tagMap()}
	// The ARN ends with the key id: one copy of it serves both.
	rec.KeyID = k.arn[len(k.arn)-len(rec.KeyID):]
	pp := s.cache.policies.parse(rec.Policy, rec.PolicyPrincipals)
	k.policy, k.bound = pp.policy, pp.bound
	// One copy of the document and its bindings for every key that has them.
	rec.Policy, rec.PolicyPrincipals = pp.text, pp.principals
	if conds {
		k.conds = keyConditions(rec)
	}
	if rec.CurrentMaterial != "" {
		id, err := keys.ParseMaterialID(rec.CurrentMaterial)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", rec.KeyID, err)
		}
		k.current = id
	}
	return k, nil
}

// aliasTarget returns the key id an alias points at, or "" when there is no such alias.
func (s *Service) aliasTarget(ctx context.Context, account, region, name string) (string, error) {
	ck := cacheAlias(account, region, name)
	if v, ok := s.cache.get(ck); ok {
		return v.(string), nil
	}
	gen := s.cache.gen.Load()
	var a *aliasRecord
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		a, err = loadAlias(tx, account, region, name)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	s.cache.add(ck, a.TargetKeyID, gen)
	return a.TargetKeyID, nil
}
