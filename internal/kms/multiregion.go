package kms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
	"github.com/kmsd/kmsd/internal/store"
)

// Multi-Region keys. A primary key and its replicas, each in its own Region
// of one partition, share a key id (mrk-…), key spec, usage, origin, the
// material versions and the rotation schedule. Each related key is a record
// in its own Region's partition, with every material version sealed again
// under that record's AAD, so a ciphertext names only the key id and any
// related key decrypts it. Policy, tags, description, aliases and key state
// are each key's own. One kmsd serves every Region, so whatever the keys
// share changes in one transaction that writes every related record.

const (
	mrkPrimary = kmsapi.MultiRegionKeyTypePrimary
	mrkReplica = kmsapi.MultiRegionKeyTypeReplica
)

// newMultiRegionKeyID returns a fresh multi-Region key id: mrk- and 32
// lower-case hex digits, as AWS writes them.
func newMultiRegionKeyID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "mrk-" + hex.EncodeToString(b[:])
}

func (r *keyRecord) isPrimary() bool { return r.MultiRegion && r.PrimaryRegion == r.Region }
func (r *keyRecord) isReplica() bool { return r.MultiRegion && r.PrimaryRegion != r.Region }

// relatedRegions lists the Regions of r's related keys, r's own excluded:
// the primary's first, then the replicas' in the order they were made.
func (r *keyRecord) relatedRegions() []string {
	if !r.MultiRegion {
		return nil
	}
	out := make([]string, 0, len(r.ReplicaRegions)+1)
	for _, region := range append([]string{r.PrimaryRegion}, r.ReplicaRegions...) {
		if region != r.Region {
			out = append(out, region)
		}
	}
	return out
}

// groupCacheKeys names the cache entries of r and every related key.
func (r *keyRecord) groupCacheKeys() []string {
	out := []string{cacheKeyID(r.AccountID, r.Region, r.KeyID)}
	for _, region := range r.relatedRegions() {
		out = append(out, cacheKeyID(r.AccountID, region, r.KeyID))
	}
	return out
}

// multiRegionConfig renders the MultiRegionConfiguration AWS shows: the
// key's type, the primary key, and every replica key (a replica lists
// itself among them).
func multiRegionConfig(r *keyRecord) *kmsapi.MultiRegionConfiguration {
	cfg := &kmsapi.MultiRegionConfiguration{
		MultiRegionKeyType: mrkReplica,
		PrimaryKey:         &kmsapi.MultiRegionKey{Arn: keyARN(r.PrimaryRegion, r.AccountID, r.KeyID), Region: r.PrimaryRegion},
		ReplicaKeys:        make([]kmsapi.MultiRegionKey, 0, len(r.ReplicaRegions)),
	}
	if r.isPrimary() {
		cfg.MultiRegionKeyType = mrkPrimary
	}
	for _, region := range r.ReplicaRegions {
		cfg.ReplicaKeys = append(cfg.ReplicaKeys, kmsapi.MultiRegionKey{Arn: keyARN(region, r.AccountID, r.KeyID), Region: region})
	}
	return cfg
}

// errNotPrimary is AWS's answer when an operation of the primary key names
// a replica or a single-Region key.
func errNotPrimary(arn string) error {
	return kmserr.New(kmserr.UnsupportedOperation, "%s is not a multi-region primary key.", arn)
}

// servesRegion reports whether this kmsd serves region (Config.Regions).
func (s *Service) servesRegion(region string) bool {
	return s.regions == nil || s.regions[region]
}

// CheckRegion refuses a request signed for a Region this kmsd does not
// serve. AWS has no endpoint for such a Region; a request signed for a
// Region not enabled in the account gets UnrecognizedClientException, so
// kmsd answers with that exception too, and says why.
func (s *Service) CheckRegion(region string) error {
	if s.servesRegion(region) {
		return nil
	}
	return kmserr.New(kmserr.UnrecognizedClient, "The security token included in the request is invalid. This kmsd does not serve the Region %s (it serves %s).", region, strings.Join(s.regionList, ", "))
}

// lookupFor resolves a key by id or ARN and authorizes action on it with
// the operation's own condition keys.
func (s *Service) lookupFor(ctx context.Context, c *Call, keyID, action string, conds map[string][]string) (*cachedKey, error) {
	ref, err := parseKeyRef(&c.Caller, keyID, keyOnly)
	if err != nil {
		return nil, err
	}
	k, err := s.resolveFor(ctx, c, ref, action)
	if err != nil {
		return nil, err
	}
	c.touch(k.arn)
	if err := s.authz.Authorize(ctx, &AuthzRequest{Caller: &c.Caller, Action: action, Key: k.view(), Conditions: conds}); err != nil {
		return nil, err
	}
	return k, nil
}

// lookupPrimary is lookupFor of a key that must be a multi-Region primary
// in a state that allows managing it (ReplicateKey, UpdatePrimaryRegion).
func (s *Service) lookupPrimary(ctx context.Context, c *Call, keyID, action string, conds map[string][]string) (*cachedKey, error) {
	k, err := s.lookupFor(ctx, c, keyID, action, conds)
	if err != nil {
		return nil, err
	}
	if !k.rec.isPrimary() {
		return nil, errNotPrimary(k.arn)
	}
	if err := checkState(k, ruleManage); err != nil {
		return nil, err
	}
	return k, nil
}

// sealedCopies holds material versions already sealed for related keys,
// by Region and then KeyMaterialId, made before a transaction so that it
// seals nothing itself in the common case.
type sealedCopies map[string]map[string]materialRecord

// add seals plain, the material of version m of r, for r's related key in region.
func (sc sealedCopies) add(s *Service, r *keyRecord, region string, m materialRecord, plain secret.Bytes) error {
	sealed, err := s.sealer.Seal(plain, materialAAD(partition(r.AccountID, region), r.KeyID, m.ID))
	if err != nil {
		return kmserr.Internalf("seal material %s of %s for %s: %w", m.ID, r.KeyID, region, err)
	}
	if sc[region] == nil {
		sc[region] = make(map[string]materialRecord)
	}
	cp := m
	cp.Sealed = sealed
	sc[region][m.ID] = cp
	return nil
}

// copyFor returns version m of from's material sealed for the related key
// in region: the prepared copy, or, when the versions changed since it was
// prepared, m unsealed from from's record and sealed again now.
func (s *Service) copyFor(sc sealedCopies, from *keyRecord, region string, m materialRecord) (materialRecord, error) {
	if cp, ok := sc[region][m.ID]; ok {
		return cp, nil
	}
	plain, err := s.sealer.Unseal(m.Sealed, materialAAD(from.partition(), from.KeyID, m.ID))
	if err != nil {
		return materialRecord{}, kmserr.Internalf("unseal material %s of %s: %w", m.ID, from.arn(), err)
	}
	defer plain.Wipe()
	tmp := sealedCopies{}
	if err := tmp.add(s, from, region, m, plain); err != nil {
		return materialRecord{}, err
	}
	return tmp[region][m.ID], nil
}

// loadPrimary re-reads primary p inside a transaction and checks that it
// is still a primary that may be managed.
func loadPrimary(tx store.Tx, p *keyRecord) (*keyRecord, error) {
	r, err := loadKey(tx, p.AccountID, p.Region, p.KeyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errKeyNotFound(p.arn())
	}
	if err != nil {
		return nil, err
	}
	if !r.isPrimary() {
		return nil, errNotPrimary(r.arn())
	}
	return r, checkState(&cachedKey{rec: r, arn: r.arn()}, ruleManage)
}

// loadReplicas reads the replicas primary lists, by Region.
func loadReplicas(tx store.Tx, primary *keyRecord) (map[string]*keyRecord, error) {
	out := make(map[string]*keyRecord, len(primary.ReplicaRegions))
	for _, region := range primary.ReplicaRegions {
		r, err := loadKey(tx, primary.AccountID, region, primary.KeyID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[region] = r
	}
	return out, nil
}

// putGroup stores related records, each naming the same primary Region and
// replica Regions.
func putGroup(tx store.Tx, recs []*keyRecord, primary string, replicas []string) error {
	for _, r := range recs {
		r.PrimaryRegion, r.ReplicaRegions = primary, replicas
		if err := putKey(tx, r); err != nil {
			return err
		}
	}
	return nil
}

// syncReplicas gives every replica of primary the primary's material
// versions, current material and rotation history, inside tx, so that a
// rotation reaches every Region in the transaction that makes it. Keys with
// imported material are left alone: each related key imports its own copy.
func (s *Service) syncReplicas(tx store.Tx, primary *keyRecord, sc sealedCopies) error {
	if !primary.isPrimary() || primary.Origin != originAWSKMS {
		return nil
	}
	replicas, err := loadReplicas(tx, primary)
	if err != nil {
		return err
	}
	for region, r := range replicas {
		for _, m := range primary.Materials {
			if slices.ContainsFunc(r.Materials, func(have materialRecord) bool { return have.ID == m.ID }) {
				continue
			}
			cp, err := s.copyFor(sc, primary, region, m)
			if err != nil {
				return err
			}
			r.Materials = append(r.Materials, cp)
		}
		r.CurrentMaterial = primary.CurrentMaterial
		r.Rotations = slices.Clone(primary.Rotations)
		if err := putKey(tx, r); err != nil {
			return err
		}
	}
	return nil
}
