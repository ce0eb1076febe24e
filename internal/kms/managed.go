package kms

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kms/managed"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/outbox"
	"github.com/kmsd/kmsd/internal/policy"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/uuid"
)

// AWS managed keys. An AWS service keeps one symmetric key in each account
// and Region where it protects data, behind its predefined alias
// (alias/aws/s3…), created when the service first uses it; the customer can
// read it and its policy but change nothing about it, and AWS rotates it
// every year. kmsd has no AWS services in front of it, so it plays their
// part: the first use of a predefined alias in the caller's own account
// (DescribeKey, as AWS documents, or a cryptographic call, as a service
// would make) creates the key, and every request on the key carries the
// service's kms:ViaService, so AWS's own key policy lets the account's
// principals use it directly and lets no one manage it.

const managerAWS = "AWS"

// managedTarget returns the key behind a predefined AWS alias that has
// none yet, creating the AWS managed key, or "" when ref names no such
// alias of the caller's own account.
func (s *Service) managedTarget(ctx context.Context, ref keyRef) (string, error) {
	svc, ok := managed.Lookup(ref.alias)
	if !ok || ref.account != ref.caller {
		return "", nil
	}
	return s.createManaged(ctx, ref.account, ref.region, svc)
}

// createManaged creates the AWS managed key of svc and its alias, unless a
// concurrent first use already did: the alias is claimed in the same
// transaction, so there is only ever one key, and every caller gets it.
// Like AWS's, the key counts against no quota and rotates every year.
func (s *Service) createManaged(ctx context.Context, account, region string, svc managed.Service) (string, error) {
	now := s.now()
	rec := &keyRecord{
		KeyID: uuid.New(), AccountID: account, Region: region,
		Description: svc.Description(), KeyUsage: usageEncryptDecrypt, KeySpec: specSymmetric,
		Origin: originAWSKMS, KeyManager: managerAWS, KeyState: stateEnabled, Created: now,
		Policy: svc.Policy(account, region), AWSManagedAlias: svc.Alias,
	}
	material := keys.GenerateSymmetric()
	defer material.Wipe()
	m, err := s.newMaterial(rec.partition(), rec.KeyID, material, keys.NewMaterialID(), originAWSKMS)
	if err != nil {
		return "", storeErr(err, "create AWS managed key")
	}
	rec.Materials, rec.CurrentMaterial = []materialRecord{m}, m.ID
	var target string
	// Made on the way to a call's first use of the key: not the call's
	// change, so it does not commit the call's audit record.
	err = s.store.Update(outbox.Without(ctx), func(tx store.Tx) error {
		a, err := loadAlias(tx, account, region, svc.Alias)
		if err == nil {
			target = a.TargetKeyID
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		r := *rec // a retried transaction starts again from rec
		next := now.Add(days(defaultRotationDays))
		if err := setSchedule(tx, &r, defaultRotationDays, &next); err != nil {
			return err
		}
		if err := putKey(tx, &r); err != nil {
			return err
		}
		target = r.KeyID
		return putAlias(tx, account, region, &aliasRecord{Name: svc.Alias, TargetKeyID: r.KeyID, Created: now, Updated: now})
	})
	s.cache.invalidate(cacheAlias(account, region, svc.Alias), cacheKeyID(account, region, rec.KeyID))
	if err != nil {
		return "", storeErr(err, "create AWS managed key")
	}
	return target, nil
}

// refuseOnManaged refuses, on an AWS managed key, every action its key
// policy allows no one (PutKeyPolicy, ScheduleKeyDeletion, DisableKey,
// TagResource, EnableKeyRotation, CreateAlias…) with the
// AccessDeniedException AWS answers, whichever authorizer kmsd runs:
// under kmsd dev's AccountOwner too, these keys stay as AWS keeps them.
func refuseOnManaged(c *Call, action string, k *cachedKey) error {
	if k.rec.KeyManager != managerAWS {
		return nil
	}
	if svc, ok := managed.Lookup(k.rec.AWSManagedAlias); ok && svc.Allows(action) {
		return nil
	}
	return AccessDenied(&c.Caller, action, k.arn, "because no resource-based policy allows the "+action+" action")
}

// refuseManagedGrant refuses a grant on an AWS managed key that its policy
// does not let the service make (aws/s3 has no grants), or that names a
// principal of another account: AWS managed keys serve only principals of
// their own account, and what they protect cannot be shared.
func refuseManagedGrant(c *Call, k *cachedKey, g *grantRecord) error {
	if err := refuseOnManaged(c, "kms:CreateGrant", k); err != nil || k.rec.KeyManager != managerAWS {
		return err
	}
	for _, p := range []string{g.Grantee, g.Retiring} {
		if _, acct, ok := policy.ParsePrincipal(p); ok && acct != "" && acct != k.rec.AccountID {
			return AccessDenied(&c.Caller, "kms:CreateGrant", k.arn, "because no resource-based policy allows the kms:CreateGrant action")
		}
	}
	return nil
}

// addManagedConditions gives an AWS managed key's requests the
// kms:ViaService of its service, which kmsd stands in for.
func addManagedConditions(c policy.Context, r *keyRecord) {
	if svc, ok := managed.Lookup(r.AWSManagedAlias); ok && r.KeyManager == managerAWS {
		c["kms:viaservice"] = []string{svc.ViaService(r.Region)}
	}
}

// mergePredefined adds to a ListAliases page, in name order, the
// predefined AWS aliases that have no key yet: AWS lists them in every
// account, without TargetKeyId or dates, and they count against no quota.
// page holds the stored aliases after the marker after, up to limit; a
// predefined alias joins the page when it sorts after the marker and, if
// stored aliases remain beyond the page, before the last of them.
func mergePredefined(page *kmsapi.ListAliasesOutput, account, region, after string, limit int) {
	truncated := page.Truncated != nil && *page.Truncated
	last := ""
	if n := len(page.Aliases); truncated && n > 0 {
		last = page.Aliases[n-1].AliasName
	}
	merged := slices.Clone(page.Aliases)
	for _, name := range managed.Aliases() {
		stored := slices.ContainsFunc(page.Aliases, func(a kmsapi.AliasListEntry) bool { return a.AliasName == name })
		if name <= after || stored || truncated && name > last {
			continue
		}
		merged = append(merged, kmsapi.AliasListEntry{AliasName: name, AliasArn: aliasARN(region, account, name)})
	}
	if len(merged) == len(page.Aliases) {
		return
	}
	slices.SortFunc(merged, func(a, b kmsapi.AliasListEntry) int { return strings.Compare(a.AliasName, b.AliasName) })
	if len(merged) > limit {
		merged, truncated = merged[:limit], true
	}
	page.Aliases, page.Truncated, page.NextMarker = merged, kmsapi.Bool(truncated), ""
	if truncated {
		page.NextMarker = encodeMarker(merged[len(merged)-1].AliasName)
	}
}
