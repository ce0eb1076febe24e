package kms

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

// grantsPerKey is AWS's quota of grants on one KMS key.
const grantsPerKey = 50000

// Encryption context constraints hold at most 8 pairs, each value at most
// 384 characters (create-grant-overview.md).
const (
	maxConstraintPairs = 8
	maxConstraintValue = 384
)

// CreateGrant adds a grant to a key and returns its id and a grant token.
func (s *Service) CreateGrant(ctx context.Context, c *Call, in *kmsapi.CreateGrantInput) (*kmsapi.CreateGrantOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	want, err := grantFromInput(in)
	if err != nil {
		return nil, err
	}
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	k, err := s.findKey(ctx, c, in.KeyId, "kms:CreateGrant")
	if err != nil {
		return nil, err
	}
	want.IssuingAccount = accountRoot(c.Caller.Region, c.Caller.AccountID)
	if err := s.authz.Authorize(ctx, &AuthzRequest{
		Caller: &c.Caller, Action: "kms:CreateGrant", Key: k.view(),
		EncryptionContext: want.Context, GrantTokens: in.GrantTokens,
		Conditions:  createGrantConditions(&c.Caller, want),
		GrantAllows: k.grants.allowsCreateGrant(&c.Caller, want),
	}); err != nil {
		return nil, err
	}
	if err := refuseManagedGrant(c, k, want); err != nil {
		return nil, err
	}
	if err := checkState(k, ruleGrant); err != nil {
		return nil, err
	}
	if err := checkGrantable(k, want); err != nil {
		return nil, err
	}
	if isDryRun(in.DryRun) {
		return nil, errDryRun
	}
	var out *kmsapi.CreateGrantOutput
	created := false
	err = s.store.Update(ctx, func(tx store.Tx) error {
		g, made, err := s.findOrMakeGrant(tx, k, want)
		created = made
		if err != nil {
			return err
		}
		// The answer is the call's before the commit (see Call.Answer).
		token, err := s.grantToken(g)
		if err != nil {
			return err
		}
		out = &kmsapi.CreateGrantOutput{GrantId: g.GrantID, GrantToken: token}
		c.answer = out
		return nil
	})
	if created {
		s.cache.invalidate(cacheKeyID(k.rec.AccountID, k.rec.Region, k.rec.KeyID))
	}
	if err != nil {
		return nil, storeErr(err, "create grant")
	}
	return out, nil
}

// findOrMakeGrant returns, in tx, the grant CreateGrant answers with: the
// same grant made before by a retry of the request, or a new one
// (created).
func (s *Service) findOrMakeGrant(tx store.Tx, k *cachedKey, want *grantRecord) (g *grantRecord, created bool, err error) {
	acct, region, keyID := k.rec.AccountID, k.rec.Region, k.rec.KeyID
	part := partition(acct, region)
	r, err := loadKey(tx, acct, region, keyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, errKeyNotFound(k.arn)
	}
	if err != nil {
		return nil, false, err
	}
	if err := checkState(&cachedKey{rec: r, arn: k.arn}, ruleGrant); err != nil {
		return nil, false, err
	}
	if want.Name != "" {
		// A retry of the same request, name included, returns the grant
		// it made; the same name with other parameters is a new grant.
		if g, err = findSameGrant(tx, part, keyID, want); err != nil || g != nil {
			return g, false, err
		}
	}
	n, err := counter(tx, grantCounterKey(part, keyID))
	if err != nil {
		return nil, false, err
	}
	if n >= grantsPerKey {
		return nil, false, kmserr.New(kmserr.LimitExceeded, "The request was rejected because the KMS key %s already has %d grants, the quota of grants per KMS key.", k.arn, n)
	}
	ng := *want
	ng.GrantID, ng.KeyID, ng.AccountID, ng.Region, ng.Created = newGrantID(), keyID, acct, region, s.now()
	if err := s.newGrantKey(&ng); err != nil {
		return nil, false, err
	}
	return &ng, true, putGrant(tx, &ng)
}

// grantFromInput checks a CreateGrant request that needs no key and
// returns the grant it asks for.
func grantFromInput(in *kmsapi.CreateGrantInput) (*grantRecord, error) {
	g := &grantRecord{Name: in.Name}
	switch {
	case (in.GranteePrincipal == "") == (in.GranteeServicePrincipal == ""):
		return nil, kmserr.New(kmserr.Validation, "You must specify either GranteePrincipal or GranteeServicePrincipal, but not both.")
	case in.RetiringPrincipal != "" && in.RetiringServicePrincipal != "":
		return nil, kmserr.New(kmserr.Validation, "You can specify either RetiringPrincipal or RetiringServicePrincipal, but not both.")
	case len(in.Operations) == 0:
		return nil, kmserr.New(kmserr.Validation, "1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if g.Grantee = in.GranteePrincipal; g.Grantee == "" {
		g.Grantee, g.GranteeService = in.GranteeServicePrincipal, true
	}
	if g.Retiring = in.RetiringPrincipal; g.Retiring == "" && in.RetiringServicePrincipal != "" {
		g.Retiring, g.RetiringService = in.RetiringServicePrincipal, true
	}
	for _, p := range []struct {
		v       string
		service bool
	}{{g.Grantee, g.GranteeService}, {g.Retiring, g.RetiringService}} {
		if p.v == "" {
			continue
		}
		if ok := (p.service && validServicePrincipal(p.v)) || (!p.service && validPrincipalARN(p.v)); !ok {
			return nil, kmserr.New(kmserr.InvalidArn, "ARN does not refer to a valid principal: %s", p.v)
		}
	}
	seen := opSet(0)
	for _, op := range in.Operations {
		if b := grantOpBits[string(op)]; seen&b == 0 {
			seen |= b
			g.Operations = append(g.Operations, string(op))
		}
	}
	if cs := in.Constraints; cs != nil {
		eq, sub := cs.EncryptionContextEquals, cs.EncryptionContextSubset
		if eq != nil && sub != nil {
			// Beside a real constraint, an empty map is none: the
			// hashicorp/aws provider sends one for the constraint its
			// configuration leaves out.
			switch {
			case len(eq) > 0 && len(sub) > 0:
				return nil, kmserr.New(kmserr.Validation, "More than one constraint supplied")
			case len(sub) > 0:
				eq = nil
			default:
				sub = nil
			}
		}
		switch {
		case eq != nil:
			g.Constraint, g.Context = constraintEquals, eq
		case sub != nil:
			g.Constraint, g.Context = constraintSubset, sub
		}
		if len(g.Context) > maxConstraintPairs {
			return nil, kmserr.New(kmserr.Validation, "A grant constraint can include up to %d encryption context pairs.", maxConstraintPairs)
		}
		for _, v := range g.Context {
			if len(v) > maxConstraintValue {
				return nil, kmserr.New(kmserr.Validation, "An encryption context value in a grant constraint cannot exceed %d characters.", maxConstraintValue)
			}
		}
		g.SourceArn = cs.SourceArn
	}
	if g.GranteeService {
		switch {
		case g.SourceArn == "":
			return nil, kmserr.New(kmserr.Validation, "When you specify a GranteeServicePrincipal, you must also specify a SourceArn grant constraint.")
		case g.Retiring == "":
			return nil, kmserr.New(kmserr.Validation, "When you specify a GranteeServicePrincipal, you must also specify a RetiringPrincipal or a RetiringServicePrincipal.")
		}
	}
	return g, nil
}

// createGrantConditions are the condition keys of a CreateGrant request:
// a service principal grantee or retiring principal is
// kms:GranteeServicePrincipal or kms:RetiringServicePrincipal, never the
// key for principal ARNs.
func createGrantConditions(c *Caller, g *grantRecord) map[string][]string {
	m := map[string][]string{
		"kms:grantoperations":       g.Operations,
		"kms:grantisforawsresource": {strconv.FormatBool(isServiceCaller(c))},
	}
	grantee, retiring := "kms:granteeprincipal", "kms:retiringprincipal"
	if g.GranteeService {
		grantee = "kms:granteeserviceprincipal"
	}
	if g.RetiringService {
		retiring = "kms:retiringserviceprincipal"
	}
	m[grantee] = []string{g.Grantee}
	if g.Retiring != "" {
		m[retiring] = []string{g.Retiring}
	}
	if g.Constraint != "" {
		m["kms:grantconstrainttype"] = []string{g.Constraint}
	}
	if g.SourceArn != "" {
		m["kms:grantconstraintsourcearn"] = []string{g.SourceArn}
	}
	return m
}

// grantableOps are the grant operations a key supports, after AWS's
// "grant operations" table: DescribeKey, CreateGrant and RetireGrant on
// every key, and the cryptographic operations of its spec and usage.
func grantableOps(spec, usage string) opSet {
	ops := []string{"CreateGrant", "RetireGrant", "DescribeKey"}
	switch {
	case spec == specSymmetric:
		ops = append(ops, "Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey",
			"GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext")
	case isHMACSpec(spec):
		ops = append(ops, "GenerateMac", "VerifyMac")
	case usage == keys.UsageEncryptDecrypt:
		ops = append(ops, "Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey")
	case usage == keys.UsageSignVerify:
		ops = append(ops, "Sign", "Verify", "GetPublicKey")
	case usage == keys.UsageKeyAgreement:
		ops = append(ops, "DeriveSharedSecret", "GetPublicKey")
	case usage == keys.UsageEncapsulateDecapsulate:
		ops = append(ops, "Encapsulate", "Decapsulate", "GetPublicKey")
	}
	return opsOf(ops)
}

// checkGrantable refuses operations the key cannot perform, and
// encryption context constraints on a key whose operations take no
// encryption context, with ValidationException as AWS does.
func checkGrantable(k *cachedKey, g *grantRecord) error {
	allowed := grantableOps(k.rec.KeySpec, k.rec.KeyUsage)
	var bad []string
	for _, op := range g.Operations {
		if grantOpBits[op]&allowed == 0 {
			bad = append(bad, op)
		}
	}
	if len(bad) > 0 {
		return kmserr.New(kmserr.Validation, "Grant operations [%s] are not valid for the KMS key %s with key spec %s and key usage %s.", strings.Join(bad, ", "), k.arn, k.rec.KeySpec, k.rec.KeyUsage)
	}
	if g.Constraint != "" && k.rec.KeySpec != specSymmetric {
		return kmserr.New(kmserr.Validation, "Encryption context grant constraints are valid only for symmetric encryption KMS keys; %s has key spec %s.", k.arn, k.rec.KeySpec)
	}
	return nil
}

// findSameGrant returns the key's grant that a CreateGrant request with a
// Name repeats, or nil.
func findSameGrant(tx store.Tx, part, keyID string, want *grantRecord) (*grantRecord, error) {
	kvs, err := tx.Scan(bucketGrantNames, grantNamePrefix(part, keyID, want.Name), nil, 0)
	if err != nil {
		return nil, err
	}
	for _, kv := range kvs {
		id := string(kv.Key[len(kv.Key)-2*grantIDBytes:])
		g, err := loadGrant(tx, part, keyID, id)
		if err != nil {
			return nil, err
		}
		if sameGrant(g, want) {
			return g, nil
		}
	}
	return nil, nil
}

// sameGrant compares the parameters of two grants; the order of
// operations does not matter, the case of constraint pairs does.
func sameGrant(a, b *grantRecord) bool {
	if a.Name != b.Name || a.Grantee != b.Grantee || a.GranteeService != b.GranteeService ||
		a.Retiring != b.Retiring || a.RetiringService != b.RetiringService || a.IssuingAccount != b.IssuingAccount ||
		opsOf(a.Operations) != opsOf(b.Operations) || a.Constraint != b.Constraint || a.SourceArn != b.SourceArn ||
		len(a.Context) != len(b.Context) {
		return false
	}
	for k, v := range a.Context {
		if w, ok := b.Context[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// RetireGrant deletes a grant named by its token, or by key and grant id,
// when the caller is one AWS lets retire it (grant.canRetire).
func (s *Service) RetireGrant(ctx context.Context, c *Call, in *kmsapi.RetireGrantInput) (*kmsapi.RetireGrantOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var tok *grantTokenRef
	var k *cachedKey
	grantID := in.GrantId
	switch {
	case in.GrantToken != "":
		var err error
		if tok, err = parseGrantToken(in.GrantToken); err != nil {
			return nil, err
		}
		if tok.region != c.Caller.Region || (grantID != "" && grantID != tok.grantID) {
			return nil, errInvalidGrantToken
		}
		grantID = tok.grantID
		ref := keyRef{account: tok.account, region: tok.region, keyID: tok.keyID}
		if in.KeyId != "" {
			if ref, err = parseKeyRef(&c.Caller, in.KeyId, keyOnly); err != nil {
				return nil, err
			}
			if ref.account != tok.account || ref.keyID != tok.keyID {
				return nil, errInvalidGrantToken
			}
		}
		// The token names the key, so its holder learns nothing from a
		// NotFoundException about a key that was deleted since.
		if k, err = s.resolve(ctx, ref); err != nil {
			return nil, err
		}
		c.touch(k.arn)
	case in.KeyId != "" && grantID != "":
		if !validGrantID(grantID) {
			return nil, errInvalidGrantID(grantID)
		}
		var err error
		if k, err = s.findKey(ctx, c, in.KeyId, "kms:RetireGrant"); err != nil {
			return nil, err
		}
	default:
		return nil, kmserr.New(kmserr.Validation, "You must specify a GrantToken, or a KeyId and a GrantId.")
	}
	g := k.grants.get(grantID)
	if g == nil {
		return nil, errGrantNotFound(grantID)
	}
	if tok != nil {
		if err := s.verifyGrantToken(tok, g.rec); err != nil {
			return nil, err
		}
	}
	// AWS defines the grant's encryption context and constraint type as
	// RetireGrant's condition keys.
	var conds map[string][]string
	if g.rec.Constraint != "" {
		conds = requestConditions("kms:grantconstrainttype", g.rec.Constraint)
	}
	if err := s.authz.Authorize(ctx, &AuthzRequest{
		Caller: &c.Caller, Action: "kms:RetireGrant", Key: k.view(),
		EncryptionContext: g.rec.Context, Conditions: conds,
		GrantAllows: g.canRetire(&c.Caller),
	}); err != nil {
		return nil, err
	}
	if isDryRun(in.DryRun) {
		return nil, errDryRun
	}
	if err := s.removeGrant(ctx, g.rec); err != nil {
		return nil, err
	}
	return &kmsapi.RetireGrantOutput{}, nil
}

// RevokeGrant deletes a grant; it is authorized by policy alone.
func (s *Service) RevokeGrant(ctx context.Context, c *Call, in *kmsapi.RevokeGrantInput) (*kmsapi.RevokeGrantOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if !validGrantID(in.GrantId) {
		return nil, errInvalidGrantID(in.GrantId)
	}
	k, err := s.findKey(ctx, c, in.KeyId, "kms:RevokeGrant")
	if err != nil {
		return nil, err
	}
	if err := s.authorizeGrantAction(ctx, c, "kms:RevokeGrant", k); err != nil {
		return nil, err
	}
	g := k.grants.get(in.GrantId)
	if g == nil {
		return nil, errGrantNotFound(in.GrantId)
	}
	if isDryRun(in.DryRun) {
		return nil, errDryRun
	}
	if err := s.removeGrant(ctx, g.rec); err != nil {
		return nil, err
	}
	return &kmsapi.RevokeGrantOutput{}, nil
}

// removeGrant deletes a grant and drops its key from the cache, so the
// very next request no longer sees it.
func (s *Service) removeGrant(ctx context.Context, g *grantRecord) error {
	part := partition(g.AccountID, g.Region)
	err := s.store.Update(ctx, func(tx store.Tx) error {
		r, err := loadGrant(tx, part, g.KeyID, g.GrantID)
		if errors.Is(err, store.ErrNotFound) {
			return errGrantNotFound(g.GrantID)
		}
		if err != nil {
			return err
		}
		return deleteGrant(tx, r)
	})
	s.cache.invalidate(cacheKeyID(g.AccountID, g.Region, g.KeyID))
	if err != nil {
		return storeErr(err, "delete grant "+g.GrantID)
	}
	return nil
}

// findKey parses and resolves a key ID or key ARN, and records the key
// for the audit record; the caller authorizes.
func (s *Service) findKey(ctx context.Context, c *Call, keyID, action string) (*cachedKey, error) {
	ref, err := parseKeyRef(&c.Caller, keyID, keyOnly)
	if err != nil {
		return nil, err
	}
	k, err := s.resolveFor(ctx, c, ref, action)
	if err != nil {
		return nil, err
	}
	c.touch(k.arn)
	return k, nil
}

// authorizeGrantAction authorizes ListGrants and RevokeGrant, which
// policies alone allow, with the kms:GrantIsForAWSResource condition key
// AWS defines for them.
func (s *Service) authorizeGrantAction(ctx context.Context, c *Call, action string, k *cachedKey) error {
	return s.authz.Authorize(ctx, &AuthzRequest{
		Caller: &c.Caller, Action: action, Key: k.view(),
		Conditions: map[string][]string{"kms:grantisforawsresource": {strconv.FormatBool(isServiceCaller(&c.Caller))}},
	})
}

func accountRoot(region, account string) string {
	return "arn:" + arnPartition(region) + ":iam::" + account + ":root"
}

func errInvalidGrantID(id string) error {
	return kmserr.New(kmserr.InvalidGrantID, "Invalid grant ID %s", id)
}

func errGrantNotFound(id string) error {
	return kmserr.New(kmserr.NotFound, "Grant ID %s not found", id)
}
