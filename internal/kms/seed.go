package kms

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// SeedKey describes a key to create at start with a fixed id, for
// reproducible test environments.
type SeedKey struct {
	AccountID   string
	Region      string
	KeyID       string
	Description string
	// Material, if set, is the key's 32-byte AES-256 material, so that
	// ciphertexts made against one seeded kmsd decrypt in another.
	Material secret.Bytes
	Disabled bool
	Policy   string
	Tags     map[string]string
	Aliases  []string
}

// seedMaterialID derives the material id from the material itself, so the
// same seeded material always yields the same ciphertext header.
func seedMaterialID(keyID string, material secret.Bytes) keys.MaterialID {
	m := hmac.New(sha256.New, material)
	m.Write([]byte("kmsd/seed-material-id|" + keyID))
	var id keys.MaterialID
	copy(id[:], m.Sum(nil))
	return id
}

// Seed creates sk if it does not exist yet and adds any alias or tag it
// lacks; running it twice changes nothing. It reports whether the key was new.
func (s *Service) Seed(ctx context.Context, sk SeedKey) (bool, error) {
	if !validKeyID(sk.KeyID) {
		return false, fmt.Errorf("seed key %q: not a key id (a UUID or mrk- followed by 32 hex digits)", sk.KeyID)
	}
	if sk.Material != nil && len(sk.Material) != 32 {
		return false, fmt.Errorf("seed key %s: material must be 32 bytes, got %d", sk.KeyID, len(sk.Material))
	}
	policy := sk.Policy
	if policy == "" {
		policy = DefaultPolicy(sk.AccountID)
	} else if _, err := s.checkPolicy(policy); err != nil {
		return false, fmt.Errorf("seed key %s: %w", sk.KeyID, err)
	}
	var tags []kmsapi.Tag
	for _, k := range slices.Sorted(maps.Keys(sk.Tags)) {
		tags = append(tags, kmsapi.Tag{TagKey: k, TagValue: sk.Tags[k]})
	}
	part := partition(sk.AccountID, sk.Region)
	created := false
	err := s.store.Update(ctx, func(tx store.Tx) error {
		created = false
		rec, err := loadKey(tx, sk.AccountID, sk.Region, sk.KeyID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			rec = &keyRecord{
				KeyID: sk.KeyID, AccountID: sk.AccountID, Region: sk.Region, Description: sk.Description,
				KeyUsage: usageEncryptDecrypt, KeySpec: specSymmetric, Origin: originAWSKMS,
				KeyManager: managerCustomer, KeyState: stateEnabled, Created: s.now(), Policy: policy,
			}
			if sk.Disabled {
				rec.KeyState = stateDisabled
			}
			material, mid := sk.Material, keys.NewMaterialID()
			if material == nil {
				material = keys.GenerateSymmetric()
				defer material.Wipe()
			} else {
				mid = seedMaterialID(sk.KeyID, material)
			}
			m, err := s.newMaterial(part, sk.KeyID, material, mid, originAWSKMS)
			if err != nil {
				return err
			}
			rec.Materials, rec.CurrentMaterial = []materialRecord{m}, m.ID
			if rec.Tags, err = checkNewTags(nil, tags, s.limits.TagsPerKey); err != nil {
				return err
			}
			created = true
			if err := s.insertKey(tx, rec); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if sk.Material != nil && rec.CurrentMaterial != seedMaterialID(sk.KeyID, sk.Material).String() {
				return fmt.Errorf("key %s already exists with different key material", sk.KeyID)
			}
			if rec.Tags, err = checkNewTags(rec.Tags, tags, s.limits.TagsPerKey); err != nil {
				return err
			}
			if err := putKey(tx, rec); err != nil {
				return err
			}
		}
		for _, name := range sk.Aliases {
			if err := checkAliasName(name); err != nil {
				return err
			}
			a, err := loadAlias(tx, sk.AccountID, sk.Region, name)
			switch {
			case errors.Is(err, store.ErrNotFound):
				now := s.now()
				if err := putAlias(tx, sk.AccountID, sk.Region, &aliasRecord{Name: name, TargetKeyID: sk.KeyID, Created: now, Updated: now}); err != nil {
					return err
				}
			case err != nil:
				return err
			case a.TargetKeyID != sk.KeyID:
				return fmt.Errorf("alias %s already points at key %s", name, a.TargetKeyID)
			}
		}
		return nil
	})
	inval := []string{cacheKeyID(sk.AccountID, sk.Region, sk.KeyID)}
	for _, a := range sk.Aliases {
		inval = append(inval, cacheAlias(sk.AccountID, sk.Region, a))
	}
	s.cache.invalidate(inval...)
	if err != nil {
		var ke *kmserr.Error
		if errors.As(err, &ke) {
			return false, fmt.Errorf("seed key %s: %s", sk.KeyID, ke.Message)
		}
		return false, fmt.Errorf("seed key %s: %w", sk.KeyID, err)
	}
	return created, nil
}
