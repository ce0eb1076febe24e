package kms

import (
	"context"
	"crypto/rand"
	"errors"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
)

var errDryRun = kmserr.New(kmserr.DryRunOperation, "The request would have succeeded, but the DryRun option is set.")

const msgIncorrectKey = "The key ID in the request does not identify a CMK that can perform this operation."

// usableForEncryption checks state, key usage and algorithm for a
// symmetric encryption-side operation.
func usableForEncryption(k *cachedKey, op string, alg kmsapi.EncryptionAlgorithmSpec) error {
	if err := usableFor(k, usageEncryptDecrypt, op); err != nil {
		return err
	}
	if k.rec.KeySpec != specSymmetric {
		return kmserr.New(kmserr.InvalidKeyUsage, "%s key spec %s is not valid for %s.", k.arn, k.rec.KeySpec, op)
	}
	if alg != "" && alg != algSymmetric {
		return kmserr.New(kmserr.InvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", alg, k.rec.KeySpec)
	}
	return nil
}

func isDryRun(b *bool) bool { return b != nil && *b }

func refuseRecipient(r *kmsapi.RecipientInfo) error {
	if r != nil {
		return kmserr.New(kmserr.Validation, "The Recipient parameter (a Nitro Enclaves attestation document) is not supported by kmsd.")
	}
	return nil
}

// seal encrypts plaintext under the key's current material.
func (k *cachedKey) seal(plaintext []byte, ec map[string]string) ([]byte, error) {
	material, ok := k.currentMaterial()
	if !ok {
		return nil, kmserr.Internalf("key %s has no current material", k.rec.KeyID)
	}
	blob, err := keys.EncryptBlob(k.rec.KeyID, k.current, material, plaintext, ec)
	if err != nil {
		return nil, kmserr.Internalf("encrypt under %s: %w", k.rec.KeyID, err)
	}
	return blob, nil
}

// Encrypt encrypts up to 4096 bytes under a symmetric key.
func (s *Service) Encrypt(ctx context.Context, c *Call, in *kmsapi.EncryptInput) (*kmsapi.EncryptOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	c.conditions = requestConditions("kms:encryptionalgorithm", algorithmOrDefault(in.EncryptionAlgorithm))
	k, err := s.lookup(ctx, c, in.KeyId, keyOrAlias, "kms:Encrypt", in.EncryptionContext, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	blob, alg, err := s.encryptWith(ctx, c, k, "Encrypt", in.Plaintext, in.EncryptionContext, in.EncryptionAlgorithm, isDryRun(in.DryRun))
	if err != nil {
		return nil, err
	}
	return &kmsapi.EncryptOutput{CiphertextBlob: blob, KeyId: k.arn, EncryptionAlgorithm: alg}, nil
}

// open finds the key a symmetric blob names, checks it against the KeyId the
// caller gave (if any), authorizes, and decrypts.
func (s *Service) open(ctx context.Context, c *Call, blob []byte, named *cachedKey, action string, ec map[string]string, grantTokens []string, op string, alg kmsapi.EncryptionAlgorithmSpec, dryRun bool) (*cachedKey, secret.Bytes, keys.MaterialID, error) {
	var none keys.MaterialID
	h, err := keys.ParseBlobHeader(blob)
	if err == nil && !validKeyID(h.KeyID) {
		// A blob that names no possible key is malformed, not a reference
		// to a key the caller may not see.
		err = keys.ErrInvalidCiphertext
	}
	if err != nil {
		return nil, nil, none, kmserr.New(kmserr.InvalidCiphertext, "")
	}
	k := named
	if named != nil {
		// The named key, possibly another account's, is already resolved
		// and authorized; it must be the key the blob was made under.
		if named.rec.KeyID != h.KeyID {
			return nil, nil, none, kmserr.New(kmserr.IncorrectKey, msgIncorrectKey)
		}
	} else {
		// A multi-Region key's blob names the shared mrk- id, so the
		// related key in the caller's Region, which holds the same
		// material versions, decrypts it.
		k, err = s.key(ctx, c.Caller.AccountID, c.Caller.Region, h.KeyID)
		if errors.Is(err, errNoKey) {
			return nil, nil, none, kmserr.New(kmserr.AccessDenied, "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.")
		}
		if err != nil {
			return nil, nil, none, kmserr.Internalf("load key %s: %w", h.KeyID, err)
		}
		c.touch(k.arn)
		c.use(k)
		if err := s.authorize(ctx, c, action, k, ec, grantTokens, ""); err != nil {
			return nil, nil, none, err
		}
	}
	if err := s.usableInStore(ctx, k, op, alg); err != nil {
		return nil, nil, none, err
	}
	if dryRun {
		return nil, nil, none, errDryRun
	}
	if inKeyStore(k) {
		pt, err := s.openStoreBlob(ctx, c, k, op, blob, ec)
		return k, pt, h.MaterialID, err
	}
	material, ok := k.material(h.MaterialID.String())
	if !ok {
		return nil, nil, none, kmserr.New(kmserr.InvalidCiphertext, "")
	}
	pt, err := keys.DecryptBlob(blob, material, ec)
	if err != nil {
		return nil, nil, none, kmserr.New(kmserr.InvalidCiphertext, "")
	}
	return k, pt, h.MaterialID, nil
}

// Decrypt decrypts a ciphertext made by Encrypt or GenerateDataKey*.
func (s *Service) Decrypt(ctx context.Context, c *Call, in *kmsapi.DecryptInput) (*kmsapi.DecryptOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := refuseRecipient(in.Recipient); err != nil {
		return nil, err
	}
	c.conditions = requestConditions("kms:encryptionalgorithm", algorithmOrDefault(in.EncryptionAlgorithm))
	k, pt, mid, alg, err := s.decryptAny(ctx, c, in.CiphertextBlob, in.KeyId, "kms:Decrypt", in.EncryptionContext, in.GrantTokens, "Decrypt", in.EncryptionAlgorithm, isDryRun(in.DryRun))
	if err != nil {
		return nil, err
	}
	return &kmsapi.DecryptOutput{KeyId: k.arn, Plaintext: pt, EncryptionAlgorithm: alg, KeyMaterialId: mid}, nil
}

// ReEncrypt decrypts under one key and encrypts under another without
// exposing the plaintext.
func (s *Service) ReEncrypt(ctx context.Context, c *Call, in *kmsapi.ReEncryptInput) (*kmsapi.ReEncryptOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	ref, err := parseKeyRef(&c.Caller, in.DestinationKeyId, keyOrAlias)
	if err != nil {
		return nil, err
	}
	dst, err := s.resolveFor(ctx, c, ref, "kms:ReEncryptTo")
	if err != nil {
		return nil, err
	}
	c.touch(dst.arn)
	c.use(dst)
	// kms:ReEncryptOnSameKey holds for both halves of the operation.
	same := boolString(s.reEncryptSource(ctx, c, in) == dst.arn)
	c.conditions = requestConditions("kms:encryptionalgorithm", algorithmOrDefault(in.DestinationEncryptionAlgorithm), "kms:reencryptonsamekey", same)
	if err := s.authorize(ctx, c, "kms:ReEncryptTo", dst, in.DestinationEncryptionContext, in.GrantTokens, ref.alias); err != nil {
		return nil, err
	}
	// Check the destination before decrypting, so a refusal exposes nothing.
	if err := checkEncryptable(dst, "ReEncrypt", in.DestinationEncryptionAlgorithm, in.DestinationEncryptionContext); err != nil {
		return nil, err
	}
	c.conditions = requestConditions("kms:encryptionalgorithm", algorithmOrDefault(in.SourceEncryptionAlgorithm), "kms:reencryptonsamekey", same)
	src, pt, srcMID, srcAlg, err := s.decryptAny(ctx, c, in.CiphertextBlob, in.SourceKeyId, "kms:ReEncryptFrom", in.SourceEncryptionContext, in.GrantTokens, "ReEncrypt", in.SourceEncryptionAlgorithm, isDryRun(in.DryRun))
	if err != nil {
		return nil, err
	}
	defer pt.Wipe()
	blob, dstAlg, err := s.encryptWith(ctx, c, dst, "ReEncrypt", pt, in.DestinationEncryptionContext, in.DestinationEncryptionAlgorithm, false)
	if err != nil {
		return nil, err
	}
	out := &kmsapi.ReEncryptOutput{
		CiphertextBlob: blob, SourceKeyId: src.arn, KeyId: dst.arn,
		SourceEncryptionAlgorithm: srcAlg, DestinationEncryptionAlgorithm: dstAlg, SourceKeyMaterialId: srcMID,
	}
	if dst.asym == nil {
		out.DestinationKeyMaterialId = dst.current.String()
	}
	return out, nil
}

// reEncryptSource returns the ARN of the key a ReEncrypt request decrypts
// under, for kms:ReEncryptOnSameKey: the key SourceKeyId names, else the
// key the ciphertext names in the caller's account and Region; "" when
// neither resolves (decryption then fails on its own).
func (s *Service) reEncryptSource(ctx context.Context, c *Call, in *kmsapi.ReEncryptInput) string {
	if in.SourceKeyId != "" {
		ref, err := parseKeyRef(&c.Caller, in.SourceKeyId, keyOrAlias)
		if err != nil {
			return ""
		}
		k, err := s.resolve(ctx, ref)
		if err != nil {
			return ""
		}
		return k.arn
	}
	h, err := keys.ParseBlobHeader(in.CiphertextBlob)
	if err != nil || !validKeyID(h.KeyID) {
		return ""
	}
	return keyARN(c.Caller.Region, c.Caller.AccountID, h.KeyID)
}

func dataKeyLength(spec kmsapi.DataKeySpec, n *int32) (int, error) {
	if (spec == "") == (n == nil) {
		return 0, kmserr.New(kmserr.Validation, "Please specify either number of bytes or key spec.")
	}
	switch {
	case n != nil:
		return int(*n), nil
	case spec == "AES_128":
		return 16, nil
	default:
		return 32, nil
	}
}

// newDataKey makes a random data key and its ciphertext under k.
func (s *Service) newDataKey(ctx context.Context, c *Call, op, keyID string, ec map[string]string, grantTokens []string, spec kmsapi.DataKeySpec, n *int32, dryRun bool) (*cachedKey, secret.Bytes, []byte, error) {
	size, err := dataKeyLength(spec, n)
	if err != nil {
		return nil, nil, nil, err
	}
	// Data keys are always encrypted with SYMMETRIC_DEFAULT.
	c.conditions = requestConditions("kms:encryptionalgorithm", algSymmetric)
	k, err := s.lookup(ctx, c, keyID, keyOrAlias, "kms:"+op, ec, grantTokens)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := s.usableInStore(ctx, k, op, ""); err != nil {
		return nil, nil, nil, err
	}
	if dryRun {
		return nil, nil, nil, errDryRun
	}
	dk := make(secret.Bytes, size)
	_, _ = rand.Read(dk)
	blob, err := s.sealWith(ctx, c, k, op, dk, ec)
	if err != nil {
		return nil, nil, nil, err
	}
	return k, dk, blob, nil
}

// GenerateDataKey returns a fresh data key in plaintext and encrypted.
func (s *Service) GenerateDataKey(ctx context.Context, c *Call, in *kmsapi.GenerateDataKeyInput) (*kmsapi.GenerateDataKeyOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := refuseRecipient(in.Recipient); err != nil {
		return nil, err
	}
	k, dk, blob, err := s.newDataKey(ctx, c, "GenerateDataKey", in.KeyId, in.EncryptionContext, in.GrantTokens, in.KeySpec, in.NumberOfBytes, isDryRun(in.DryRun))
	if err != nil {
		return nil, err
	}
	return &kmsapi.GenerateDataKeyOutput{CiphertextBlob: blob, Plaintext: dk, KeyId: k.arn, KeyMaterialId: k.current.String()}, nil
}

// GenerateDataKeyWithoutPlaintext returns a fresh data key, encrypted only.
func (s *Service) GenerateDataKeyWithoutPlaintext(ctx context.Context, c *Call, in *kmsapi.GenerateDataKeyWithoutPlaintextInput) (*kmsapi.GenerateDataKeyWithoutPlaintextOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	k, dk, blob, err := s.newDataKey(ctx, c, "GenerateDataKeyWithoutPlaintext", in.KeyId, in.EncryptionContext, in.GrantTokens, in.KeySpec, in.NumberOfBytes, isDryRun(in.DryRun))
	if err != nil {
		return nil, err
	}
	dk.Wipe()
	return &kmsapi.GenerateDataKeyWithoutPlaintextOutput{CiphertextBlob: blob, KeyId: k.arn, KeyMaterialId: k.current.String()}, nil
}

// GenerateRandom returns 1 to 1024 random bytes.
func (s *Service) GenerateRandom(ctx context.Context, c *Call, in *kmsapi.GenerateRandomInput) (*kmsapi.GenerateRandomOutput, error) {
	if in.NumberOfBytes == nil {
		return nil, kmserr.New(kmserr.Validation, "NumberOfBytes is required.")
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := refuseRecipient(in.Recipient); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, "kms:GenerateRandom", nil, nil, nil, ""); err != nil {
		return nil, err
	}
	if err := s.randomFromStore(ctx, c, in.CustomKeyStoreId); err != nil {
		return nil, err
	}
	b := make([]byte, *in.NumberOfBytes)
	_, _ = rand.Read(b)
	return &kmsapi.GenerateRandomOutput{Plaintext: b}, nil
}
