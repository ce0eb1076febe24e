package kms

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

// ReplicateKey creates a replica of a multi-Region primary key in another
// Region of its partition: the same key id, spec, usage, origin and
// material versions, with its own policy (the default one unless given),
// tags and description. AWS answers while the replica is still Creating and
// enables it a few seconds later; kmsd creates it Enabled (PendingImport
// for imported material, which each replica imports itself) in one
// transaction that also lists it in every related key, and answers as AWS
// does, with KeyState Creating.
func (s *Service) ReplicateKey(ctx context.Context, c *Call, in *kmsapi.ReplicateKeyInput) (*kmsapi.ReplicateKeyOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	region := in.ReplicaRegion
	k, err := s.lookupPrimary(ctx, c, in.KeyId, "kms:ReplicateKey", map[string][]string{"kms:replicaregion": {region}})
	if err != nil {
		return nil, err
	}
	p := k.rec
	replicaARN := keyARN(region, p.AccountID, p.KeyID)
	switch {
	case region == p.Region || slices.Contains(p.ReplicaRegions, region):
		return nil, kmserr.New(kmserr.AlreadyExists, "Key '%s' already exists", replicaARN)
	case arnPartition(region) != arnPartition(p.Region):
		return nil, kmserr.New(kmserr.UnsupportedOperation, "The replica Region %s is not in the %s partition of the primary key %s.", region, arnPartition(p.Region), k.arn)
	case !s.servesRegion(region):
		return nil, kmserr.New(kmserr.UnsupportedOperation, "This kmsd does not serve the Region %s (it serves %s).", region, strings.Join(s.regionList, ", "))
	}
	if err := checkSpecRegion(p.KeySpec, region); err != nil {
		return nil, err
	}
	tags, err := checkNewTags(nil, in.Tags, s.limits.TagsPerKey)
	if err != nil {
		return nil, err
	}
	policy := in.Policy
	if policy == "" {
		policy = DefaultPolicy(p.AccountID)
	} else if err := s.checkNewPolicy(ctx, c, replicaARN, p.AccountID, policy, in.BypassPolicyLockoutSafetyCheck); err != nil {
		return nil, err
	}
	// The replica is a new key in its Region: the caller needs
	// kms:CreateKey there, and kms:TagResource to tag it.
	inReplica := c.Caller
	inReplica.Region = region
	conds := map[string][]string{
		"kms:keyspec":            {p.KeySpec},
		"kms:keyusage":           {p.KeyUsage},
		"kms:keyorigin":          {p.Origin},
		"kms:multiregion":        {"true"},
		"kms:multiregionkeytype": {string(mrkReplica)},
	}
	if b := in.BypassPolicyLockoutSafetyCheck; b != nil {
		conds["kms:bypasspolicylockoutsafetycheck"] = []string{boolString(*b)}
	}
	addTagConditions(conds, in.Tags)
	if err := s.authz.Authorize(ctx, &AuthzRequest{Caller: &inReplica, Action: "kms:CreateKey", Conditions: conds}); err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		tagConds := map[string][]string{}
		addTagConditions(tagConds, in.Tags)
		if err := s.authz.Authorize(ctx, &AuthzRequest{Caller: &inReplica, Action: "kms:TagResource", Conditions: tagConds}); err != nil {
			return nil, err
		}
	}
	bound, err := s.bindPrincipals(ctx, p.AccountID, policy)
	if err != nil {
		return nil, err
	}
	sc := sealedCopies{}
	if p.Origin == originAWSKMS {
		for _, m := range p.Materials {
			if err := sc.add(s, p, region, m, k.materialOf(m.ID)); err != nil {
				return nil, err
			}
		}
	}

	now := s.now()
	var replica *keyRecord
	var invalid []string
	var out *kmsapi.ReplicateKeyOutput
	n := len(c.Resources)
	err = s.store.Update(ctx, func(tx store.Tx) error {
		c.Resources = c.Resources[:n]
		primary, err := loadPrimary(tx, p)
		if err != nil {
			return err
		}
		if _, err := loadKey(tx, p.AccountID, region, p.KeyID); err == nil || slices.Contains(primary.ReplicaRegions, region) {
			return kmserr.New(kmserr.AlreadyExists, "Key '%s' already exists", replicaARN)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		replica = &keyRecord{
			KeyID:       p.KeyID,
			AccountID:   p.AccountID,
			Region:      region,
			Description: in.Description,
			KeyUsage:    primary.KeyUsage,
			KeySpec:     primary.KeySpec,
			Origin:      primary.Origin,
			KeyManager:  managerCustomer,
			KeyState:    stateEnabled,
			Created:     now,
			Policy:      policy,
			Tags:        tags,
			MultiRegion: true,
		}
		replica.PolicyPrincipals = bound
		if primary.Origin == originAWSKMS {
			for _, m := range primary.Materials {
				cp, err := s.copyFor(sc, primary, region, m)
				if err != nil {
					return err
				}
				replica.Materials = append(replica.Materials, cp)
			}
			replica.CurrentMaterial = primary.CurrentMaterial
			replica.Rotations = slices.Clone(primary.Rotations)
		} else {
			replica.KeyState = statePendingImport
		}
		replicas, err := loadReplicas(tx, primary)
		if err != nil {
			return err
		}
		regions := append(slices.Clone(primary.ReplicaRegions), region)
		related := append(slices.Collect(maps.Values(replicas)), primary)
		if err := putGroup(tx, related, primary.Region, regions); err != nil {
			return err
		}
		replica.PrimaryRegion, replica.ReplicaRegions = primary.Region, regions
		invalid = replica.groupCacheKeys()
		if err := s.insertKey(tx, replica); err != nil {
			return err
		}
		// The replica and the answer are the call's before the commit
		// (see Call.Answer).
		c.touch(replica.arn())
		out = replicateAnswer(replica, policy)
		c.answer = out
		return nil
	})
	s.cache.invalidate(invalid...)
	if err != nil {
		c.Resources, c.answer = c.Resources[:n], nil
		return nil, storeErr(err, "replicate key "+p.KeyID)
	}
	return out, nil
}

// replicateAnswer is ReplicateKey's answer: the new replica, Creating
// until it is synchronized, as AWS answers.
func replicateAnswer(replica *keyRecord, policy string) *kmsapi.ReplicateKeyOutput {
	md := metadata(replica)
	md.KeyState, md.Enabled, md.CurrentKeyMaterialId = stateCreating, kmsapi.Bool(false), ""
	out := &kmsapi.ReplicateKeyOutput{ReplicaKeyMetadata: md, ReplicaPolicy: policy}
	for _, t := range replica.Tags {
		out.ReplicaTags = append(out.ReplicaTags, kmsapi.Tag{TagKey: t.Key, TagValue: t.Value})
	}
	return out
}

// UpdatePrimaryRegion makes the replica in PrimaryRegion the primary key and
// the primary a replica. The automatic rotation schedule moves with the
// primary. AWS shows both keys Updating for a few seconds; kmsd swaps them
// in one transaction, so their states never change.
func (s *Service) UpdatePrimaryRegion(ctx context.Context, c *Call, in *kmsapi.UpdatePrimaryRegionInput) (*kmsapi.UpdatePrimaryRegionOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	target := in.PrimaryRegion
	conds := map[string][]string{"kms:primaryregion": {target}}
	k, err := s.lookupPrimary(ctx, c, in.KeyId, "kms:UpdatePrimaryRegion", conds)
	if err != nil {
		return nil, err
	}
	p := k.rec
	if target == p.Region {
		return nil, kmserr.New(kmserr.UnsupportedOperation, "%s is already the primary key.", k.arn)
	}
	targetARN := keyARN(target, p.AccountID, p.KeyID)
	if !slices.Contains(p.ReplicaRegions, target) {
		return nil, errKeyNotFound(targetARN)
	}
	// The replica's own key policy must allow the change too.
	rk, err := s.key(ctx, p.AccountID, target, p.KeyID)
	if errors.Is(err, errNoKey) {
		return nil, errKeyNotFound(targetARN)
	}
	if err != nil {
		return nil, kmserr.Internalf("load key %s: %w", targetARN, err)
	}
	c.touch(rk.arn)
	if err := s.authz.Authorize(ctx, &AuthzRequest{Caller: &c.Caller, Action: "kms:UpdatePrimaryRegion", Key: rk.view(), Conditions: conds}); err != nil {
		return nil, err
	}
	if err := checkState(rk, ruleManage); err != nil {
		return nil, err
	}

	var invalid []string
	err = s.store.Update(ctx, func(tx store.Tx) error {
		old, err := loadPrimary(tx, p)
		if err != nil {
			return err
		}
		replicas, err := loadReplicas(tx, old)
		if err != nil {
			return err
		}
		next := replicas[target]
		if next == nil {
			return errKeyNotFound(targetARN)
		}
		if err := checkState(&cachedKey{rec: next, arn: next.arn()}, ruleManage); err != nil {
			return err
		}
		// The schedule is shared: it lives on the primary, with its entry
		// in the rotation index, and moves with it.
		if old.RotationEnabled && old.NextRotation != nil {
			period, due := old.RotationPeriodDays, *old.NextRotation
			if err := setSchedule(tx, old, 0, nil); err != nil {
				return err
			}
			if err := setSchedule(tx, next, period, &due); err != nil {
				return err
			}
		}
		regions := slices.DeleteFunc(slices.Clone(old.ReplicaRegions), func(r string) bool { return r == target })
		regions = append(regions, old.Region)
		if err := putGroup(tx, append(slices.Collect(maps.Values(replicas)), old), target, regions); err != nil {
			return err
		}
		invalid = next.groupCacheKeys()
		return nil
	})
	s.cache.invalidate(invalid...)
	if err != nil {
		return nil, storeErr(err, "update primary Region of "+p.KeyID)
	}
	return &kmsapi.UpdatePrimaryRegionOutput{}, nil
}
