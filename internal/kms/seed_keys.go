package kms

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/store"
)

// seedPrimary creates the seeded key in its own Region, or checks the one
// there and adds the tags it lacks. It reports whether it created it.
func (s *Service) seedPrimary(tx store.Tx, p *seedPlan) (*keyRecord, bool, error) {
	sk := p.sk
	rec, err := loadKey(tx, sk.AccountID, sk.Region, sk.KeyID)
	if errors.Is(err, store.ErrNotFound) {
		rec, err = s.newSeedRecord(p, sk.Region, sk.Description, sk.Disabled, p.policy, p.bound, p.tags)
		if err != nil {
			return nil, false, err
		}
		if rec.MultiRegion {
			rec.PrimaryRegion = sk.Region
		}
		if rec.Origin == originAWSKMS {
			if err := s.seedOwnMaterial(rec, p); err != nil {
				return nil, false, err
			}
		}
		return rec, true, s.insertKey(tx, rec)
	}
	if err != nil {
		return nil, false, err
	}
	switch {
	case rec.KeySpec != sk.KeySpec || rec.KeyUsage != sk.KeyUsage || rec.Origin != sk.Origin:
		return nil, false, seedErr(sk.KeyID, "key_spec", fmt.Errorf("the key exists as a %s %s key of origin %s", rec.KeySpec, rec.KeyUsage, rec.Origin))
	case rec.MultiRegion && rec.PrimaryRegion != sk.Region:
		return nil, false, seedErr(sk.KeyID, "region", fmt.Errorf("the key in %s is a replica of the primary key in %s", sk.Region, rec.PrimaryRegion))
	case p.material != nil && rec.Origin == originExternal && len(rec.Imports) == 0:
		if err := s.importSeedMaterial(rec, p); err != nil {
			return nil, false, err
		}
	case p.material != nil && rec.CurrentMaterial != p.mid.String():
		return nil, false, seedErr(sk.KeyID, "material", errors.New("the key already exists with different key material"))
	}
	if rec.Tags, err = checkNewTags(rec.Tags, p.tags, s.limits.TagsPerKey); err != nil {
		return nil, false, seedErr(sk.KeyID, "tags", err)
	}
	return rec, false, putKey(tx, rec)
}

// newSeedRecord returns the record of a new seeded key, or of a new
// replica, in region; an EXTERNAL key gets its seeded material imported.
func (s *Service) newSeedRecord(p *seedPlan, region, description string, disabled bool, policy string, bound []boundPrincipal, tags []kmsapi.Tag) (*keyRecord, error) {
	sk := p.sk
	rec := &keyRecord{
		KeyID: sk.KeyID, AccountID: sk.AccountID, Region: region, Description: description,
		KeyUsage: sk.KeyUsage, KeySpec: sk.KeySpec, Origin: sk.Origin, KeyManager: managerCustomer,
		KeyState: stateEnabled, Created: s.now(), Policy: policy, PolicyPrincipals: bound,
		MultiRegion: len(sk.KeyID) > 4 && sk.KeyID[:4] == "mrk-",
	}
	if disabled {
		rec.KeyState = stateDisabled
	}
	var err error
	if rec.Tags, err = checkNewTags(nil, tags, s.limits.TagsPerKey); err != nil {
		return nil, seedErr(sk.KeyID, "tags", err)
	}
	if rec.Origin == originExternal {
		rec.KeyState = statePendingImport
		if p.material != nil {
			if err := s.importSeedMaterial(rec, p); err != nil {
				return nil, err
			}
			if disabled {
				rec.KeyState = stateDisabled
			}
		}
	}
	return rec, nil
}

// seedOwnMaterial gives a new AWS_KMS key its seeded material, or fresh
// material when the seed fixes none.
func (s *Service) seedOwnMaterial(rec *keyRecord, p *seedPlan) error {
	material, mid := p.material, p.mid
	if material == nil {
		var err error
		if material, err = generateMaterial(rec.KeySpec); err != nil {
			return fmt.Errorf("generate %s material: %w", rec.KeySpec, err)
		}
		defer material.Wipe()
		mid = keys.NewMaterialID()
	}
	m, err := s.newMaterial(rec.partition(), rec.KeyID, material, mid, originAWSKMS)
	if err != nil {
		return err
	}
	rec.Materials, rec.CurrentMaterial = []materialRecord{m}, m.ID
	return nil
}

// importSeedMaterial records the seeded material of an EXTERNAL key as
// imported, without expiry, as ImportKeyMaterial would.
func (s *Service) importSeedMaterial(rec *keyRecord, p *seedPlan) error {
	m, err := s.newMaterial(rec.partition(), rec.KeyID, p.material, p.mid, originExternal)
	if err != nil {
		return err
	}
	rec.Materials = append(rec.Materials, m)
	rec.Imports = append(rec.Imports, importRecord{ID: m.ID, Imported: true, ExpirationModel: string(kmsapi.ExpirationModelTypeKeyMaterialDoesNotExpire)})
	rec.CurrentMaterial = m.ID
	if rec.KeyState == statePendingImport {
		rec.KeyState = stateEnabled
	}
	return nil
}

// seedReplicas creates the replicas of the seeded multi-Region key that do
// not exist yet, and lists them in every related key.
func (s *Service) seedReplicas(tx store.Tx, p *seedPlan, primary *keyRecord) error {
	if len(p.replicas) == 0 {
		return nil
	}
	existing, err := loadReplicas(tx, primary)
	if err != nil {
		return err
	}
	regions := slices.Clone(primary.ReplicaRegions)
	for i, rp := range p.replicas {
		region := rp.r.Region
		if r, ok := existing[region]; ok {
			if r.Tags, err = checkNewTags(r.Tags, rp.tags, s.limits.TagsPerKey); err != nil {
				return seedErr(p.sk.KeyID, fmt.Sprintf("replicas[%d].tags", i), err)
			}
			continue
		}
		if _, err := loadKey(tx, primary.AccountID, region, primary.KeyID); err == nil {
			return seedErr(p.sk.KeyID, fmt.Sprintf("replicas[%d].region", i), fmt.Errorf("a key %s exists in %s and is not a replica of this one", primary.KeyID, region))
		}
		r, err := s.newSeedRecord(p, region, rp.r.Description, rp.r.Disabled, rp.policy, rp.bound, rp.tags)
		if err != nil {
			return err
		}
		if r.Origin == originAWSKMS {
			for _, m := range primary.Materials {
				cp, err := s.copyFor(sealedCopies{}, primary, region, m)
				if err != nil {
					return err
				}
				r.Materials = append(r.Materials, cp)
			}
			r.CurrentMaterial, r.Rotations = primary.CurrentMaterial, slices.Clone(primary.Rotations)
		}
		if err := s.insertKey(tx, r); err != nil {
			return err
		}
		existing[region] = r
		regions = append(regions, region)
	}
	group := []*keyRecord{primary}
	for _, region := range regions {
		if r, ok := existing[region]; ok {
			group = append(group, r)
		}
	}
	return putGroup(tx, group, primary.Region, regions)
}
