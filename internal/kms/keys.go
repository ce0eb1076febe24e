package kms

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
	"github.com/kmsd/kmsd/internal/uuid"
)

var bucketCounters = []byte("counters")

// CreateKey makes a new customer managed key with fresh material.
func (s *Service) CreateKey(ctx context.Context, c *Call, in *kmsapi.CreateKeyInput) (*kmsapi.CreateKeyOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	spec := string(in.KeySpec)
	if in.CustomerMasterKeySpec != "" {
		if spec != "" {
			return nil, kmserr.New(kmserr.Validation, "You can specify the KeySpec or CustomerMasterKeySpec parameter, but not both. CustomerMasterKeySpec is deprecated.")
		}
		spec = string(in.CustomerMasterKeySpec)
	}
	if spec == "" {
		spec = specSymmetric
	}
	usage := string(in.KeyUsage)
	if usage == "" {
		if spec != specSymmetric {
			return nil, kmserr.New(kmserr.Validation, "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")
		}
		usage = usageEncryptDecrypt
	}
	origin := string(in.Origin)
	if origin == "" {
		origin = originAWSKMS
	}
	if err := checkSpecUsage(spec, usage, c.Caller.Region); err != nil {
		return nil, err
	}
	multiRegion := in.MultiRegion != nil && *in.MultiRegion
	if origin == originExternal {
		if err := checkExternalSpec(spec); err != nil {
			return nil, err
		}
	}
	storeKey := in.CustomKeyStoreId != "" || origin == originCloudHSM || origin == originXKS
	switch {
	case origin != originAWSKMS && origin != originExternal && !storeKey:
		return nil, kmserr.New(kmserr.UnsupportedOperation, "Origin %s is not supported by this kmsd version.", origin)
	case storeKey && multiRegion:
		return nil, kmserr.New(kmserr.UnsupportedOperation, "You cannot create a multi-Region key in a custom key store.")
	case in.XksKeyId != "" && origin != originXKS:
		return nil, kmserr.New(kmserr.Validation, "XksKeyId is valid only when Origin is EXTERNAL_KEY_STORE.")
	}
	tags, err := checkNewTags(nil, in.Tags, s.limits.TagsPerKey)
	if err != nil {
		return nil, err
	}
	keyID := uuid.New()
	if multiRegion {
		keyID = newMultiRegionKeyID()
	}
	policy := in.Policy
	if policy == "" {
		policy = DefaultPolicy(c.Caller.AccountID)
	} else if err := s.checkNewPolicy(ctx, c, keyARN(c.Caller.Region, c.Caller.AccountID, keyID), c.Caller.AccountID, policy, in.BypassPolicyLockoutSafetyCheck); err != nil {
		return nil, err
	}
	if err := s.authz.Authorize(ctx, &AuthzRequest{Caller: &c.Caller, Action: "kms:CreateKey", Conditions: createKeyConditions(in, spec, usage, origin)}); err != nil {
		return nil, err
	}
	bound, err := s.bindPrincipals(ctx, c.Caller.AccountID, policy)
	if err != nil {
		return nil, err
	}
	rec := &keyRecord{
		KeyID:       keyID,
		AccountID:   c.Caller.AccountID,
		Region:      c.Caller.Region,
		Description: in.Description,
		KeyUsage:    usage,
		KeySpec:     spec,
		Origin:      origin,
		KeyManager:  managerCustomer,
		KeyState:    stateEnabled,
		Created:     s.now(),
		Policy:      policy,
		Tags:        tags,
	}
	if multiRegion {
		// A new multi-Region key is a primary without replicas.
		rec.MultiRegion, rec.PrimaryRegion = true, rec.Region
	}
	rec.PolicyPrincipals = bound
	if storeKey {
		return s.createStoreKey(ctx, c, in, rec)
	}
	if origin == originExternal {
		return s.createExternalKey(ctx, c, rec)
	}
	material, err := s.freshMaterial(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer material.Wipe()
	mid := keys.NewMaterialID()
	m, err := s.newMaterial(rec.partition(), rec.KeyID, material, mid, originAWSKMS)
	if err != nil {
		return nil, kmserr.Internalf("%w", err)
	}
	rec.Materials = []materialRecord{m}
	rec.CurrentMaterial = m.ID
	return s.commitNewKey(ctx, c, rec)
}

// commitNewKey stores a new key. The key is the call's resource, and its
// metadata the call's answer, before the commit, so the record the outbox
// keeps with the change (shipped if this process dies before logging it)
// names the key it made and shows the answer.
func (s *Service) commitNewKey(ctx context.Context, c *Call, rec *keyRecord) (*kmsapi.CreateKeyOutput, error) {
	n := len(c.Resources)
	out := &kmsapi.CreateKeyOutput{}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		c.Resources = c.Resources[:n]
		if err := s.insertKey(tx, rec); err != nil {
			return err
		}
		c.touch(rec.arn())
		out.KeyMetadata = metadata(rec)
		c.answer = out
		return nil
	})
	if err != nil {
		c.Resources, c.answer = c.Resources[:n], nil
		return nil, storeErr(err, "create key")
	}
	return out, nil
}

// insertKey stores a new key and counts it against the account quota.
func (s *Service) insertKey(tx store.Tx, rec *keyRecord) error {
	ck := []byte(rec.partition() + "keys")
	n, err := counter(tx, ck)
	if err != nil {
		return err
	}
	if n >= int64(s.limits.KeysPerAccount) {
		return kmserr.New(kmserr.LimitExceeded, "The request was rejected because the number of customer managed keys in the account and Region (%d) has reached the quota.", n)
	}
	if err := putCounter(tx, ck, n+1); err != nil {
		return err
	}
	return putKey(tx, rec)
}

func counter(tx store.Tx, k []byte) (int64, error) {
	b, err := tx.Get(bucketCounters, k)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil || len(b) != 8 {
		return 0, errors.Join(err, errors.New("bad counter"))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func putCounter(tx store.Tx, k []byte, n int64) error {
	return tx.Put(bucketCounters, k, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// storeErr passes AWS errors raised inside a transaction through and hides
// storage failures behind KMSInternalException.
func storeErr(err error, what string) error {
	var ke *kmserr.Error
	if errors.As(err, &ke) {
		return ke
	}
	return kmserr.Internalf("%s: %w", what, err)
}

// metadata renders a record as the KeyMetadata AWS returns.
func metadata(r *keyRecord) *kmsapi.KeyMetadata {
	md := &kmsapi.KeyMetadata{
		AWSAccountId:          r.AccountID,
		KeyId:                 r.KeyID,
		Arn:                   r.arn(),
		CreationDate:          kmsapi.Time(r.Created),
		Enabled:               kmsapi.Bool(r.KeyState == stateEnabled),
		Description:           r.Description,
		KeyUsage:              kmsapi.KeyUsageType(r.KeyUsage),
		KeyState:              kmsapi.KeyState(r.KeyState),
		Origin:                kmsapi.OriginType(r.Origin),
		KeyManager:            kmsapi.KeyManagerType(r.KeyManager),
		CustomerMasterKeySpec: kmsapi.CustomerMasterKeySpec(r.KeySpec),
		KeySpec:               kmsapi.KeySpec(r.KeySpec),
		MultiRegion:           kmsapi.Bool(r.MultiRegion),
		CurrentKeyMaterialId:  r.CurrentMaterial,
	}
	importMetadata(r, md)
	if !isCustomerMasterKeySpec(r.KeySpec) {
		md.CustomerMasterKeySpec = "" // the deprecated field has no value for newer specs
	}
	if algs, err := keys.AlgorithmsFor(r.KeySpec, r.KeyUsage); err == nil {
		md.EncryptionAlgorithms = enumList[kmsapi.EncryptionAlgorithmSpec](algs.EncryptionAlgorithms)
		md.SigningAlgorithms = enumList[kmsapi.SigningAlgorithmSpec](algs.SigningAlgorithms)
		md.MacAlgorithms = enumList[kmsapi.MacAlgorithmSpec](algs.MacAlgorithms)
		md.KeyAgreementAlgorithms = enumList[kmsapi.KeyAgreementAlgorithmSpec](algs.KeyAgreementAlgorithms)
		md.EncapsulationAlgorithms = enumList[kmsapi.EncapsulationAlgorithmSpec](algs.EncapsulationAlgorithms)
	}
	if r.DeletionDate != nil {
		md.DeletionDate = kmsapi.Time(*r.DeletionDate)
	}
	if r.MultiRegion {
		md.MultiRegionConfiguration = multiRegionConfig(r)
	}
	if r.KeyState == statePendingReplicaDeletion {
		// The waiting period starts when the last replica is deleted.
		md.PendingDeletionWindowInDays = kmsapi.Int32(r.PendingWindowDays)
	}
	return md
}

// DescribeKey returns a key's metadata in any state.
func (s *Service) DescribeKey(ctx context.Context, c *Call, in *kmsapi.DescribeKeyInput) (*kmsapi.DescribeKeyOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	k, err := s.lookup(ctx, c, in.KeyId, keyOrAlias, "kms:DescribeKey", nil, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	md := metadata(k.rec)
	s.storeMetadata(ctx, k.rec, md)
	return &kmsapi.DescribeKeyOutput{KeyMetadata: md}, nil
}

// ListKeys pages through the account's keys in this Region.
func (s *Service) ListKeys(ctx context.Context, c *Call, in *kmsapi.ListKeysInput) (*kmsapi.ListKeysOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, "kms:ListKeys", nil, nil, nil, ""); err != nil {
		return nil, err
	}
	limit := limitOf(in.Limit, 100)
	after, err := decodeMarker(in.Marker)
	if err != nil {
		return nil, err
	}
	prefix := []byte(partition(c.Caller.AccountID, c.Caller.Region))
	var kvs []store.KV
	err = s.store.View(ctx, func(tx store.Tx) error {
		var err error
		kvs, err = tx.Scan(bucketKeys, prefix, markerKey(prefix, after), limit+1)
		return err
	})
	if err != nil {
		return nil, kmserr.Internalf("list keys: %w", err)
	}
	out := &kmsapi.ListKeysOutput{Keys: []kmsapi.KeyListEntry{}, Truncated: kmsapi.Bool(false)}
	for i, kv := range kvs {
		id := strings.TrimPrefix(string(kv.Key), string(prefix))
		if i == limit {
			out.Truncated = kmsapi.Bool(true)
			out.NextMarker = encodeMarker(string(kvs[i-1].Key[len(prefix):]))
			break
		}
		out.Keys = append(out.Keys, kmsapi.KeyListEntry{KeyId: id, KeyArn: keyARN(c.Caller.Region, c.Caller.AccountID, id)})
	}
	return out, nil
}

func limitOf(l *int32, def int) int {
	if l == nil {
		return def
	}
	return int(*l)
}

// Markers are opaque to clients: base64 of a version prefix and the last
// item returned, so a marker kmsd did not make is refused, not guessed at.
const markerPrefix = "m1|"

func encodeMarker(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(markerPrefix + last))
}

func decodeMarker(m string) (string, error) {
	if m == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || len(b) <= len(markerPrefix) || string(b[:len(markerPrefix)]) != markerPrefix {
		return "", kmserr.New(kmserr.InvalidMarker, "Invalid marker")
	}
	return string(b[len(markerPrefix):]), nil
}

func markerKey(prefix []byte, after string) []byte {
	if after == "" {
		return nil
	}
	return append(append([]byte{}, prefix...), after...)
}

// UpdateKeyDescription replaces a key's description.
func (s *Service) UpdateKeyDescription(ctx context.Context, c *Call, in *kmsapi.UpdateKeyDescriptionInput) (*kmsapi.UpdateKeyDescriptionOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	_, err := s.mutateKey(ctx, c, in.KeyId, "kms:UpdateKeyDescription", ruleManage, func(_ store.Tx, r *keyRecord) error {
		r.Description = in.Description
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &kmsapi.UpdateKeyDescriptionOutput{}, nil
}

// mutateKey runs one change to a key record in a transaction: it resolves
// and authorizes through the cache, re-checks the state on the stored record,
// applies fn (which may also write other records in tx), commits, and
// invalidates the cache before returning.
func (s *Service) mutateKey(ctx context.Context, c *Call, keyIDInput, action string, rule stateRule, fn func(tx store.Tx, r *keyRecord) error) (*keyRecord, error) {
	k, err := s.lookup(ctx, c, keyIDInput, keyOnly, action, nil, nil)
	if err != nil {
		return nil, err
	}
	return s.updateRecord(ctx, k.rec.AccountID, k.rec.Region, k.rec.KeyID, rule, fn)
}

func (s *Service) updateRecord(ctx context.Context, account, region, keyID string, rule stateRule, fn func(tx store.Tx, r *keyRecord) error) (*keyRecord, error) {
	var out *keyRecord
	err := s.store.Update(ctx, func(tx store.Tx) error {
		r, err := loadKey(tx, account, region, keyID)
		if errors.Is(err, store.ErrNotFound) {
			return errKeyNotFound(keyARN(region, account, keyID))
		}
		if err != nil {
			return err
		}
		if err := checkState(&cachedKey{rec: r, arn: r.arn()}, rule); err != nil {
			return err
		}
		if err := fn(tx, r); err != nil {
			return err
		}
		out = r
		return putKey(tx, r)
	})
	s.cache.invalidate(cacheKeyID(account, region, keyID))
	if err != nil {
		return nil, storeErr(err, "update key "+keyID)
	}
	return out, nil
}
