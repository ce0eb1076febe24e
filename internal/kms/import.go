package kms

import (
	"context"
	"crypto/subtle"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/store"
)

// Imported key material (BYOK): keys with Origin EXTERNAL, created without
// material (PendingImport), into which callers import material wrapped
// under a public key from GetParametersForImport.
//
// Import tokens hold no state on the server. A token is the wrapping
// algorithm, the wrapping key spec, the end of its validity and the
// wrapping private key, sealed under the root of trust with AAD naming the
// key's partition and id: it is useless without the seal, it cannot be
// used with another key (InvalidImportTokenException), and it binds the
// wrapping parameters, which ImportKeyMaterial takes from it alone. Nothing
// of it is written to the store, so tokens cost no storage and survive
// restarts and failovers for their 24 hours.
//
// A key's imported materials are listed in keyRecord.Imports in import
// order; the bytes of those currently imported are in keyRecord.Materials,
// sealed like any material. Deleting material (DeleteImportedKeyMaterial,
// or the expiry job at ValidTo) removes the bytes and keeps the entry, so
// the same material, and only it, can be imported again: KeyMaterialId is
// derived from the key id and the material (keys.ImportedMaterialID).

const (
	originExternal = "EXTERNAL"
	// importTokenTTL is how long a wrapping key and its token are valid.
	importTokenTTL = 24 * time.Hour
	// maxValidTo is how far ahead ValidTo may be.
	maxValidTo = 365 * 24 * time.Hour

	importTokenVersion = 1
)

// bucketImportExpiry indexes imported material by its ValidTo: ValidTo (8
// bytes BE unix nanos) | partition | key id | "|" | KeyMaterialId.
var bucketImportExpiry = []byte("importexpiry")

// importRecord is one material imported into an EXTERNAL key.
type importRecord struct {
	ID          string `json:"id"`
	Description string `json:"description,omitempty"`
	// Imported: the bytes are in keyRecord.Materials. False once deleted
	// or expired, until the same material is imported again.
	Imported bool `json:"imported"`
	// PendingRotation: new material of a symmetric key that
	// RotateKeyOnDemand has not made current yet. It is not permanently
	// associated with the key: deleting it forgets it.
	PendingRotation bool       `json:"pendingRotation,omitempty"`
	ExpirationModel string     `json:"expirationModel,omitempty"` // while imported
	ValidTo         *time.Time `json:"validTo,omitempty"`         // KEY_MATERIAL_EXPIRES only
}

// importExpiryKey is the bucketImportExpiry entry of one material.
func importExpiryKey(validTo time.Time, part, keyID, materialID string) []byte {
	return deletionKey(validTo, part, keyID+"|"+materialID)
}

// checkExternalSpec refuses EXTERNAL for the key specs whose material kmsd
// cannot import: ML-DSA and ML-KEM (AWS documents imported material for
// symmetric, HMAC, RSA, ECC and SM2 keys, as PKCS#8 for the asymmetric
// ones; kmsd keeps ML-DSA and ML-KEM keys as seeds).
func checkExternalSpec(spec string) error {
	if isAsymmetric(spec) {
		if _, err := keys.CheckImportedMaterial(spec, nil); errors.Is(err, keys.ErrUnsupportedKeySpec) {
			return kmserr.New(kmserr.UnsupportedOperation, "KeySpec %s does not support imported key material (Origin EXTERNAL).", spec)
		}
	}
	return nil
}

// createExternalKey stores a new key of Origin EXTERNAL: PendingImport,
// with no material until ImportKeyMaterial.
func (s *Service) createExternalKey(ctx context.Context, c *Call, rec *keyRecord) (*kmsapi.CreateKeyOutput, error) {
	rec.KeyState = statePendingImport
	return s.commitNewKey(ctx, c, rec)
}

// checkImportable refuses the keys that do not take imported material,
// then the states that refuse the operation (pending deletion), as AWS's
// key state table orders them.
func checkImportable(k *cachedKey, rule stateRule) error {
	if k.rec.Origin != originExternal {
		return kmserr.New(kmserr.UnsupportedOperation, "%s origin is %s which is not valid for this operation.", k.arn, k.rec.Origin)
	}
	return checkState(k, rule)
}

// lookupForImport resolves and authorizes an import operation with its
// own condition keys (kms:WrappingAlgorithm, kms:ExpirationModel…).
func (s *Service) lookupForImport(ctx context.Context, c *Call, keyID, action string, conditions map[string][]string) (*cachedKey, error) {
	ref, err := parseKeyRef(&c.Caller, keyID, keyOnly)
	if err != nil {
		return nil, err
	}
	k, err := s.resolveFor(ctx, c, ref, action)
	if err != nil {
		return nil, err
	}
	c.touch(k.arn)
	req := &AuthzRequest{Caller: &c.Caller, Action: action, Key: k.view(), Conditions: conditions}
	if err := s.authz.Authorize(ctx, req); err != nil {
		return nil, err
	}
	return k, nil
}

// GetParametersForImport returns a fresh wrapping public key and the import
// token that goes with it, valid for 24 hours.
func (s *Service) GetParametersForImport(ctx context.Context, c *Call, in *kmsapi.GetParametersForImportInput) (*kmsapi.GetParametersForImportOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	alg, spec := string(in.WrappingAlgorithm), string(in.WrappingKeySpec)
	k, err := s.lookupForImport(ctx, c, in.KeyId, "kms:GetParametersForImport", map[string][]string{
		"kms:wrappingalgorithm": {alg},
		"kms:wrappingkeyspec":   {spec},
	})
	if err != nil {
		return nil, err
	}
	if err := checkImportable(k, ruleManage); err != nil {
		return nil, err
	}
	if err := checkWrappingParams(spec, alg, k.rec.Region); err != nil {
		return nil, err
	}
	if err := checkWrapFits(k.rec.KeySpec, spec, alg); err != nil {
		return nil, err
	}
	var w *keys.AsymmetricKey
	err = s.onPool(ctx, func() error {
		var gerr error
		if w, gerr = keys.GenerateWrappingKey(spec); gerr != nil {
			return kmserr.Internalf("generate %s wrapping key: %w", spec, gerr)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	priv, err := w.MarshalPrivate()
	if err != nil {
		return nil, kmserr.Internalf("encode wrapping key: %w", err)
	}
	defer priv.Wipe()
	validTo := s.now().Add(importTokenTTL)
	pt := encodeImportToken(validTo, alg, spec, priv)
	defer pt.Wipe()
	token, err := s.sealer.Seal(pt, importTokenAAD(k.rec))
	if err != nil {
		return nil, kmserr.Internalf("seal import token of %s: %w", k.rec.KeyID, err)
	}
	return &kmsapi.GetParametersForImportOutput{
		KeyId:             k.arn,
		ImportToken:       token,
		PublicKey:         w.PublicKeyDER(),
		ParametersValidTo: kmsapi.Time(validTo),
	}, nil
}

// checkExpiration applies the ExpirationModel/ValidTo rules and returns
// the model and ValidTo (nil unless the material expires).
func checkExpiration(model kmsapi.ExpirationModelType, validTo *kmsapi.Timestamp, now time.Time) (string, *time.Time, error) {
	if model == "" {
		model = kmsapi.ExpirationModelTypeKeyMaterialExpires
	}
	if model == kmsapi.ExpirationModelTypeKeyMaterialDoesNotExpire {
		if validTo != nil {
			return "", nil, kmserr.New(kmserr.Validation, "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE")
		}
		return string(model), nil, nil
	}
	if validTo == nil {
		return "", nil, kmserr.New(kmserr.Validation, "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
	}
	t := validTo.Time().UTC()
	if !t.After(now) || t.Sub(now) > maxValidTo {
		return "", nil, kmserr.New(kmserr.Validation, "The validTo date must be in the future and no more than 365 days from now.")
	}
	return string(model), &t, nil
}

// ImportKeyMaterial unwraps material with the key and algorithm its import
// token names, checks it against the key spec and imports it: as the key's
// first material, as the same material again (after a deletion, expiry, or
// to change its expiration), or, for a symmetric key, as new material
// pending an on-demand rotation.
func (s *Service) ImportKeyMaterial(ctx context.Context, c *Call, in *kmsapi.ImportKeyMaterialInput) (*kmsapi.ImportKeyMaterialOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	now := s.now()
	model, validTo, err := checkExpiration(in.ExpirationModel, in.ValidTo, now)
	if err != nil {
		return nil, err
	}
	if in.ImportType == kmsapi.ImportTypeNewKeyMaterial && in.KeyMaterialId != "" {
		return nil, kmserr.New(kmserr.Validation, "You cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL.")
	}
	conditions := map[string][]string{"kms:expirationmodel": {model}}
	if validTo != nil {
		// AWS expresses kms:ValidTo in Unix time, which the Numeric and
		// the Date operators both read.
		conditions["kms:validto"] = []string{strconv.FormatInt(validTo.Unix(), 10)}
	}
	k, err := s.lookupForImport(ctx, c, in.KeyId, "kms:ImportKeyMaterial", conditions)
	if err != nil {
		return nil, err
	}
	if err := checkImportable(k, ruleManage); err != nil {
		return nil, err
	}
	r := k.rec
	if r.KeySpec != specSymmetric && (in.KeyMaterialId != "" || in.KeyMaterialDescription != "") {
		return nil, kmserr.New(kmserr.Validation, "KeyMaterialId and KeyMaterialDescription are valid only for symmetric encryption keys.")
	}
	tok, tokenPlain, err := s.openImportToken(r, in.ImportToken)
	if err != nil {
		return nil, err
	}
	material, err := unwrapWith(tok, in.EncryptedKeyMaterial)
	tokenPlain.Wipe()
	if err != nil {
		return nil, err
	}
	canonical, err := keys.CheckImportedMaterial(r.KeySpec, material)
	material.Wipe()
	switch {
	case errors.Is(err, keys.ErrNotFIPSApproved):
		return nil, errNotFIPS("Key material of this key")
	case err != nil:
		return nil, kmserr.New(kmserr.IncorrectKeyMaterial, "The key material is not valid for key spec %s.", r.KeySpec)
	}
	defer canonical.Wipe()
	mid := keys.ImportedMaterialID(r.KeyID, canonical)
	sealed, err := s.newMaterial(r.partition(), r.KeyID, canonical, mid, originExternal)
	if err != nil {
		return nil, kmserr.Internalf("%w", err)
	}
	imp := importRequest{id: mid.String(), sealed: sealed, model: model, validTo: validTo, in: in}
	out := &kmsapi.ImportKeyMaterialOutput{KeyMaterialId: imp.id}
	_, err = s.updateRecord(ctx, r.AccountID, r.Region, r.KeyID, ruleManage, func(tx store.Tx, r *keyRecord) error {
		out.KeyId = r.arn()
		c.answer = out
		return applyImport(tx, r, &imp)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type importRequest struct {
	id      string
	sealed  materialRecord
	model   string
	validTo *time.Time
	in      *kmsapi.ImportKeyMaterialInput
}

// applyImport records an import in r, inside the transaction that stores r.
func applyImport(tx store.Tx, r *keyRecord, imp *importRequest) error {
	in := imp.in
	typ := in.ImportType
	if typ == "" {
		typ = kmsapi.ImportTypeExistingKeyMaterial
		if len(r.Imports) == 0 {
			typ = kmsapi.ImportTypeNewKeyMaterial
		}
	}
	i := slices.IndexFunc(r.Imports, func(m importRecord) bool { return m.ID == imp.id })
	switch {
	case typ == kmsapi.ImportTypeNewKeyMaterial && len(r.Imports) == 0:
		if in.KeyMaterialId != "" {
			return kmserr.New(kmserr.Validation, "You cannot specify a KeyMaterialId when importing the first key material of a key.")
		}
		r.Imports = append(r.Imports, importRecord{ID: imp.id})
		r.CurrentMaterial = imp.id
		i = len(r.Imports) - 1
	case typ == kmsapi.ImportTypeNewKeyMaterial:
		if err := checkNewMaterial(r, i, imp.id); err != nil {
			return err
		}
		r.Imports = append(r.Imports, importRecord{ID: imp.id, PendingRotation: true})
		i = len(r.Imports) - 1
	default: // EXISTING_KEY_MATERIAL
		if i < 0 || in.KeyMaterialId != "" && subtle.ConstantTimeCompare([]byte(in.KeyMaterialId), []byte(imp.id)) != 1 {
			return kmserr.New(kmserr.IncorrectKeyMaterial, "The key material in the request does not match key material previously imported into %s.", r.arn())
		}
	}
	m := &r.Imports[i]
	if !m.Imported {
		r.Materials = append(r.Materials, imp.sealed)
		m.Imported = true
		if r.KeySpec != specSymmetric {
			r.CurrentMaterial = m.ID
		}
	}
	if in.KeyMaterialDescription != "" {
		m.Description = in.KeyMaterialDescription
	}
	if err := setExpiry(tx, r, m, imp.model, imp.validTo); err != nil {
		return err
	}
	if r.KeyState == statePendingImport && !missingMaterial(r) {
		r.KeyState = stateEnabled
	}
	return nil
}

// checkNewMaterial refuses NEW_KEY_MATERIAL where AWS does: keys whose
// material cannot change (asymmetric and HMAC), multi-Region keys (their
// flow through replicas is not implemented), material the key already
// has, and a second material pending rotation.
func checkNewMaterial(r *keyRecord, known int, id string) error {
	if r.KeySpec != specSymmetric {
		return kmserr.New(kmserr.UnsupportedOperation, "The key material of %s key %s cannot change after its first import.", r.KeySpec, r.arn())
	}
	if r.MultiRegion {
		return kmserr.New(kmserr.UnsupportedOperation, "Importing new key material into multi-Region key %s is not supported by this kmsd version.", r.arn())
	}
	if known >= 0 {
		return kmserr.New(kmserr.IncorrectKeyMaterial, "This key material is already associated with %s; import it with ImportType EXISTING_KEY_MATERIAL.", r.arn())
	}
	for _, m := range r.Imports {
		if m.PendingRotation {
			return kmserr.New(kmserr.InvalidState, "New key material (id: %s) cannot be imported into KMS key %s, because another key material (id: %s) is pending rotation.", id, r.KeyID, m.ID)
		}
	}
	return nil
}

// setExpiry replaces m's expiration and its entry in the expiry index.
func setExpiry(tx store.Tx, r *keyRecord, m *importRecord, model string, validTo *time.Time) error {
	if m.ValidTo != nil {
		if err := tx.Delete(bucketImportExpiry, importExpiryKey(*m.ValidTo, r.partition(), r.KeyID, m.ID)); err != nil {
			return err
		}
	}
	m.ExpirationModel, m.ValidTo = model, validTo
	if validTo == nil {
		return nil
	}
	return tx.Put(bucketImportExpiry, importExpiryKey(*validTo, r.partition(), r.KeyID, m.ID), nil)
}

// missingMaterial reports whether an EXTERNAL key lacks material it needs
// to be usable: it never had any, or a material permanently associated
// with it was deleted or expired.
func missingMaterial(r *keyRecord) bool {
	if r.Origin != originExternal {
		return false
	}
	if len(r.Imports) == 0 {
		return true
	}
	return slices.ContainsFunc(r.Imports, func(m importRecord) bool { return !m.Imported && !m.PendingRotation })
}

// dropMaterial deletes the bytes of r's imported material i and its expiry
// entry. Material pending rotation is forgotten entirely; other material
// keeps its entry, and the key, unless pending deletion, becomes
// PendingImport until the same material is imported again.
func dropMaterial(tx store.Tx, r *keyRecord, i int) error {
	m := &r.Imports[i]
	if err := setExpiry(tx, r, m, "", nil); err != nil {
		return err
	}
	r.Materials = slices.DeleteFunc(r.Materials, func(mr materialRecord) bool { return mr.ID == m.ID })
	if m.PendingRotation {
		r.Imports = slices.Delete(r.Imports, i, i+1)
		return nil
	}
	m.Imported = false
	if r.KeySpec != specSymmetric {
		r.CurrentMaterial = "" // an asymmetric key's snapshot parses its current material
	}
	if r.KeyState == stateEnabled || r.KeyState == stateDisabled {
		r.KeyState = statePendingImport // a key pending deletion stays so
	}
	return nil
}

// DeleteImportedKeyMaterial deletes imported material: the one named by
// KeyMaterialId, else the current one. The key becomes PendingImport (a key
// pending deletion stays so) and its ciphertexts, signatures and MACs stop
// working until the same material is imported again.
func (s *Service) DeleteImportedKeyMaterial(ctx context.Context, c *Call, in *kmsapi.DeleteImportedKeyMaterialInput) (*kmsapi.DeleteImportedKeyMaterialOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	k, err := s.lookupForImport(ctx, c, in.KeyId, "kms:DeleteImportedKeyMaterial", nil)
	if err != nil {
		return nil, err
	}
	if err := checkImportable(k, ruleAny); err != nil {
		return nil, err
	}
	out := &kmsapi.DeleteImportedKeyMaterialOutput{}
	_, err = s.updateRecord(ctx, k.rec.AccountID, k.rec.Region, k.rec.KeyID, ruleAny, func(tx store.Tx, r *keyRecord) error {
		out.KeyId, out.KeyMaterialId = r.arn(), ""
		c.answer = out
		id := in.KeyMaterialId
		if id == "" {
			id = r.CurrentMaterial
			if id == "" && len(r.Imports) > 0 {
				id = r.Imports[0].ID // asymmetric and HMAC keys have one
			}
		}
		i := slices.IndexFunc(r.Imports, func(m importRecord) bool { return m.ID == id })
		switch {
		case i < 0 && in.KeyMaterialId != "":
			return kmserr.New(kmserr.NotFound, "Key material %s is not associated with %s.", in.KeyMaterialId, r.arn())
		case i < 0:
			return nil // nothing was ever imported
		}
		out.KeyMaterialId = id
		if !r.Imports[i].Imported {
			return nil // already deleted
		}
		return dropMaterial(tx, r, i)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// importMetadata sets the KeyMetadata members of an EXTERNAL key:
// ExpirationModel and ValidTo (the earliest expiry of the materials
// permanently associated with it), absent while none is imported; and no
// CurrentKeyMaterialId for asymmetric and HMAC keys, as AWS shows them.
func importMetadata(r *keyRecord, md *kmsapi.KeyMetadata) {
	if r.Origin != originExternal {
		return
	}
	if r.KeySpec != specSymmetric {
		md.CurrentKeyMaterialId = ""
	}
	for _, m := range r.Imports {
		if !m.Imported || m.PendingRotation {
			continue
		}
		if md.ExpirationModel == "" {
			md.ExpirationModel = kmsapi.ExpirationModelTypeKeyMaterialDoesNotExpire
		}
		if m.ValidTo != nil && (md.ValidTo == nil || m.ValidTo.Before(md.ValidTo.Time())) {
			md.ExpirationModel = kmsapi.ExpirationModelTypeKeyMaterialExpires
			md.ValidTo = kmsapi.Time(*m.ValidTo)
		}
	}
}
