package kms

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// SeedKey describes a key to create at start with a fixed id, for
// reproducible test environments. Seeding writes the records directly, as
// the operator's configuration: no caller is authorized and nothing is
// audited.
type SeedKey struct {
	AccountID   string
	Region      string
	KeyID       string // a UUID, or mrk- and 32 hex digits for a multi-Region key
	Description string
	KeySpec     string // default SYMMETRIC_DEFAULT
	KeyUsage    string // default: the spec's first usage, as keys.KeyUsages lists them
	Origin      string // AWS_KMS (default) or EXTERNAL
	// Material, if set, is the key's material in the form kmsd keeps: 32
	// bytes for SYMMETRIC_DEFAULT, the HMAC key, a PKCS#8 DER private key
	// (RSA, ECC, secp256k1, Ed25519, SM2), or the FIPS 204/203 seed of an
	// ML-DSA/ML-KEM key. With it, ciphertexts, signatures and MACs made by
	// one seeded kmsd verify in another. An EXTERNAL key with material is
	// seeded as imported, without one it is PendingImport.
	Material secret.Bytes
	Disabled bool
	Policy   string
	Tags     map[string]string
	Aliases  []string
	// Replicas of a multi-Region key, in other Regions.
	Replicas []SeedReplica
	Grants   []SeedGrant
}

// SeedReplica is a replica of a seeded multi-Region key: what is each
// related key's own.
type SeedReplica struct {
	Region      string
	Description string
	Disabled    bool
	Policy      string
	Tags        map[string]string
	Aliases     []string
	Grants      []SeedGrant
}

// SeedError says which setting of a seeded key is wrong: Field is its
// path in the seed (material, replicas[0].region, grants[1].operations).
type SeedError struct {
	KeyID string
	Field string
	Err   error
}

func (e *SeedError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("seed key %s: %s", e.KeyID, e.Reason())
	}
	return fmt.Sprintf("seed key %s: %s: %s", e.KeyID, e.Field, e.Reason())
}

// Reason says what is wrong, as AWS would for an API error.
func (e *SeedError) Reason() string {
	var ke *kmserr.Error
	if errors.As(e.Err, &ke) {
		return ke.Message
	}
	return e.Err.Error()
}

func (e *SeedError) Unwrap() error { return e.Err }

func seedErr(keyID, field string, err error) error {
	return &SeedError{KeyID: keyID, Field: field, Err: err}
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

// seedPlan is a checked SeedKey, ready to be written.
type seedPlan struct {
	sk       SeedKey
	material secret.Bytes    // canonical form, or nil
	mid      keys.MaterialID // the material id fixed material gets
	policy   string
	bound    []boundPrincipal
	tags     []kmsapi.Tag
	replicas []replicaPlan
	grants   []*grantRecord
}

type replicaPlan struct {
	r      SeedReplica
	policy string
	bound  []boundPrincipal
	tags   []kmsapi.Tag
	grants []*grantRecord
}

// Seed creates sk if it does not exist yet, and adds any alias, tag,
// replica or grant it lacks; running it twice changes nothing. It reports
// whether the key was new. Errors are *SeedError.
func (s *Service) Seed(ctx context.Context, sk SeedKey) (bool, error) {
	p, err := s.planSeed(ctx, sk)
	if err != nil {
		return false, err
	}
	defer p.material.Wipe()
	created := false
	var touched []string
	err = s.store.Update(ctx, func(tx store.Tx) error {
		created, touched = false, nil
		rec, isNew, err := s.seedPrimary(tx, p)
		if err != nil {
			return err
		}
		created = isNew
		touched = append(touched, rec.groupCacheKeys()...)
		if err := s.seedReplicas(tx, p, rec); err != nil {
			return err
		}
		touched = append(touched, rec.groupCacheKeys()...)
		inval, err := seedAliases(tx, s, sk.AccountID, sk.Region, sk.KeyID, sk.Aliases, "aliases")
		if err != nil {
			return err
		}
		touched = append(touched, inval...)
		if err := s.seedGrants(tx, rec, p.grants, "grants"); err != nil {
			return err
		}
		for i, rp := range p.replicas {
			field := fmt.Sprintf("replicas[%d].", i)
			inval, err := seedAliases(tx, s, sk.AccountID, rp.r.Region, sk.KeyID, rp.r.Aliases, field+"aliases")
			if err != nil {
				return err
			}
			touched = append(touched, inval...)
			r, err := loadKey(tx, sk.AccountID, rp.r.Region, sk.KeyID)
			if err != nil {
				return err
			}
			if err := s.seedGrants(tx, r, rp.grants, field+"grants"); err != nil {
				return err
			}
		}
		return nil
	})
	s.cache.invalidate(touched...)
	if err != nil {
		var se *SeedError
		if errors.As(err, &se) {
			return false, err
		}
		return false, seedErr(sk.KeyID, "", err)
	}
	return created, nil
}

// planSeed checks everything that needs no transaction.
func (s *Service) planSeed(ctx context.Context, sk SeedKey) (*seedPlan, error) {
	id := sk.KeyID
	if !validKeyID(id) {
		return nil, seedErr(id, "id", errors.New("not a key id (a UUID, or mrk- followed by 32 hex digits for a multi-Region key)"))
	}
	if sk.KeySpec == "" {
		sk.KeySpec = specSymmetric
	}
	usages, err := keys.KeyUsages(sk.KeySpec)
	if err != nil {
		return nil, seedErr(id, "key_spec", fmt.Errorf("%s is not a KeySpec", sk.KeySpec))
	}
	if sk.KeyUsage == "" {
		sk.KeyUsage = usages[0]
	}
	if err := checkSpecUsage(sk.KeySpec, sk.KeyUsage, sk.Region); err != nil {
		return nil, seedErr(id, "key_usage", err)
	}
	switch sk.Origin {
	case "":
		sk.Origin = originAWSKMS
	case originAWSKMS:
	case originExternal:
		if err := checkExternalSpec(sk.KeySpec); err != nil {
			return nil, seedErr(id, "origin", err)
		}
	default:
		return nil, seedErr(id, "origin", fmt.Errorf("%s is not AWS_KMS or EXTERNAL", sk.Origin))
	}
	multiRegion := strings.HasPrefix(id, "mrk-")
	if len(sk.Replicas) > 0 && !multiRegion {
		return nil, seedErr(id, "replicas", errors.New("only a multi-Region key has replicas, and its id starts with mrk-"))
	}
	p := &seedPlan{sk: sk}
	if sk.Material != nil {
		if p.material, err = canonicalMaterial(sk.KeySpec, sk.Origin, sk.Material); err != nil {
			return nil, seedErr(id, "material", err)
		}
		if sk.Origin == originExternal {
			p.mid = keys.ImportedMaterialID(id, p.material)
		} else {
			p.mid = seedMaterialID(id, p.material)
		}
	}
	if p.policy, p.bound, err = s.seedPolicy(ctx, sk.AccountID, sk.Policy); err != nil {
		return nil, seedErr(id, "policy", err)
	}
	if p.tags, err = seedTags(sk.Tags, s.limits.TagsPerKey); err != nil {
		return nil, seedErr(id, "tags", err)
	}
	if p.grants, err = planGrants(sk.AccountID, sk.Region, sk.KeyID, sk.KeySpec, sk.KeyUsage, sk.Grants, "grants"); err != nil {
		p.material.Wipe()
		return nil, err
	}
	seen := map[string]bool{sk.Region: true}
	for i, r := range sk.Replicas {
		field := fmt.Sprintf("replicas[%d].", i)
		switch {
		case seen[r.Region]:
			return nil, seedErr(id, field+"region", fmt.Errorf("the key already has a related key in %s", r.Region))
		case !validRegionName(r.Region):
			return nil, seedErr(id, field+"region", fmt.Errorf("%q is not a Region name", r.Region))
		case arnPartition(r.Region) != arnPartition(sk.Region):
			return nil, seedErr(id, field+"region", fmt.Errorf("%s is not in the %s partition of the primary key", r.Region, arnPartition(sk.Region)))
		case !s.servesRegion(r.Region):
			return nil, seedErr(id, field+"region", fmt.Errorf("this kmsd does not serve %s (it serves %s)", r.Region, strings.Join(s.regionList, ", ")))
		}
		seen[r.Region] = true
		if err := checkSpecRegion(sk.KeySpec, r.Region); err != nil {
			return nil, seedErr(id, field+"region", err)
		}
		rp := replicaPlan{r: r}
		if rp.policy, rp.bound, err = s.seedPolicy(ctx, sk.AccountID, r.Policy); err != nil {
			return nil, seedErr(id, field+"policy", err)
		}
		if rp.tags, err = seedTags(r.Tags, s.limits.TagsPerKey); err != nil {
			return nil, seedErr(id, field+"tags", err)
		}
		if rp.grants, err = planGrants(sk.AccountID, r.Region, sk.KeyID, sk.KeySpec, sk.KeyUsage, r.Grants, field+"grants"); err != nil {
			return nil, err
		}
		p.replicas = append(p.replicas, rp)
	}
	return p, nil
}

// canonicalMaterial checks seeded material against its key and returns
// the form kmsd keeps.
func canonicalMaterial(spec, origin string, m secret.Bytes) (secret.Bytes, error) {
	if origin == originAWSKMS && (strings.HasPrefix(spec, "ML_DSA_") || strings.HasPrefix(spec, "ML_KEM_")) {
		k, err := keys.ParsePrivate(spec, m)
		if err != nil {
			return nil, fmt.Errorf("not a %s private key seed: %w", spec, err)
		}
		return k.MarshalPrivate()
	}
	c, err := keys.CheckImportedMaterial(spec, m)
	switch {
	case err != nil && spec == specSymmetric:
		return nil, fmt.Errorf("a SYMMETRIC_DEFAULT key's material is 32 bytes, not %d", len(m))
	case err != nil && isHMACSpec(spec):
		return nil, fmt.Errorf("not %s key material: %w", spec, err)
	case err != nil:
		return nil, fmt.Errorf("not a %s private key: %w", spec, err)
	}
	return c, nil
}

// seedPolicy returns the key policy to seed, the default one when doc is
// empty, with the users and roles it names bound to their unique ids (they
// must exist, so identities are seeded before keys).
func (s *Service) seedPolicy(ctx context.Context, account, doc string) (string, []boundPrincipal, error) {
	if doc == "" {
		return DefaultPolicy(account), nil, nil
	}
	if _, err := s.checkPolicy(doc); err != nil {
		return "", nil, err
	}
	bound, err := s.bindPrincipals(ctx, account, doc)
	return doc, bound, err
}

func seedTags(m map[string]string, limit int) ([]kmsapi.Tag, error) {
	var tags []kmsapi.Tag
	for _, k := range slices.Sorted(maps.Keys(m)) {
		tags = append(tags, kmsapi.Tag{TagKey: k, TagValue: m[k]})
	}
	_, err := checkNewTags(nil, tags, limit)
	return tags, err
}

// seedAliases creates the aliases the key lacks in one Region, and returns
// the cache entries to invalidate.
func seedAliases(tx store.Tx, s *Service, account, region, keyID string, names []string, field string) ([]string, error) {
	var inval []string
	for i, name := range names {
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := checkAliasName(name); err != nil {
			return nil, seedErr(keyID, f, err)
		}
		a, err := loadAlias(tx, account, region, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			now := s.now()
			if err := putAlias(tx, account, region, &aliasRecord{Name: name, TargetKeyID: keyID, Created: now, Updated: now}); err != nil {
				return nil, err
			}
			inval = append(inval, cacheAlias(account, region, name))
		case err != nil:
			return nil, err
		case a.TargetKeyID != keyID:
			return nil, seedErr(keyID, f, fmt.Errorf("alias %s already points at key %s", name, a.TargetKeyID))
		}
	}
	return inval, nil
}
