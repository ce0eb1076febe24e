package kms

import (
	"context"
	"errors"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
)

// newDataKeyPair makes a key pair of spec and encrypts its private key under
// the symmetric key k, exactly as a data key.
func (s *Service) newDataKeyPair(ctx context.Context, c *Call, op, keyID string, ec map[string]string, grantTokens []string, spec kmsapi.DataKeyPairSpec, dryRun bool) (*cachedKey, []byte, secret.Bytes, []byte, error) {
	if err := s.throttleDataKeyPair(c, string(spec)); err != nil {
		return nil, nil, nil, nil, err
	}
	// The private key is encrypted with SYMMETRIC_DEFAULT.
	c.conditions = requestConditions("kms:datakeypairspec", string(spec), "kms:encryptionalgorithm", algSymmetric)
	k, err := s.lookup(ctx, c, keyID, keyOrAlias, "kms:"+op, ec, grantTokens)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if err := usableForEncryption(k, op, ""); err != nil {
		return nil, nil, nil, nil, err
	}
	if err := refuseInKeyStore(k, op); err != nil {
		return nil, nil, nil, nil, err
	}
	if err := checkSpecRegion(string(spec), c.Caller.Region); err != nil {
		return nil, nil, nil, nil, err
	}
	if err := checkFIPS(string(spec)); err != nil {
		return nil, nil, nil, nil, err
	}
	if dryRun {
		return nil, nil, nil, nil, errDryRun
	}
	pub, priv, err := s.freshDataKeyPair(ctx, string(spec))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	blob, err := k.seal(priv, ec)
	if err != nil {
		priv.Wipe()
		return nil, nil, nil, nil, err
	}
	return k, pub, priv, blob, nil
}

// GenerateDataKeyPair returns a fresh key pair: the public key, the private
// key in plaintext (PKCS#8 DER) and encrypted under a symmetric KMS key.
func (s *Service) GenerateDataKeyPair(ctx context.Context, c *Call, in *kmsapi.GenerateDataKeyPairInput) (*kmsapi.GenerateDataKeyPairOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := refuseRecipient(in.Recipient); err != nil {
		return nil, err
	}
	k, pub, priv, blob, err := s.newDataKeyPair(ctx, c, "GenerateDataKeyPair", in.KeyId, in.EncryptionContext, in.GrantTokens, in.KeyPairSpec, isDryRun(in.DryRun))
	if err != nil {
		return nil, err
	}
	return &kmsapi.GenerateDataKeyPairOutput{
		PrivateKeyCiphertextBlob: blob, PrivateKeyPlaintext: priv, PublicKey: pub, KeyId: k.arn,
		KeyPairSpec: in.KeyPairSpec, KeyMaterialId: k.current.String(),
	}, nil
}

// GenerateDataKeyPairWithoutPlaintext is GenerateDataKeyPair without the
// plaintext private key.
func (s *Service) GenerateDataKeyPairWithoutPlaintext(ctx context.Context, c *Call, in *kmsapi.GenerateDataKeyPairWithoutPlaintextInput) (*kmsapi.GenerateDataKeyPairWithoutPlaintextOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	k, pub, priv, blob, err := s.newDataKeyPair(ctx, c, "GenerateDataKeyPairWithoutPlaintext", in.KeyId, in.EncryptionContext, in.GrantTokens, in.KeyPairSpec, isDryRun(in.DryRun))
	if err != nil {
		return nil, err
	}
	priv.Wipe()
	return &kmsapi.GenerateDataKeyPairWithoutPlaintextOutput{
		PrivateKeyCiphertextBlob: blob, PublicKey: pub, KeyId: k.arn, KeyPairSpec: in.KeyPairSpec, KeyMaterialId: k.current.String(),
	}, nil
}

// DeriveSharedSecret runs ECDH between a KEY_AGREEMENT key's private key and
// the caller's public key.
func (s *Service) DeriveSharedSecret(ctx context.Context, c *Call, in *kmsapi.DeriveSharedSecretInput) (*kmsapi.DeriveSharedSecretOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := refuseRecipient(in.Recipient); err != nil {
		return nil, err
	}
	c.conditions = requestConditions("kms:keyagreementalgorithm", string(in.KeyAgreementAlgorithm))
	k, err := s.lookup(ctx, c, in.KeyId, keyOrAlias, "kms:DeriveSharedSecret", nil, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if err := usableFor(k, keys.UsageKeyAgreement, "DeriveSharedSecret"); err != nil {
		return nil, err
	}
	if isDryRun(in.DryRun) {
		return nil, errDryRun
	}
	shared, err := k.asym.DeriveSharedSecret(in.PublicKey)
	if errors.Is(err, keys.ErrInvalidPublicKey) {
		// AWS answers a public key it cannot use without a message.
		return nil, kmserr.New(kmserr.Validation, "")
	}
	if err != nil {
		return nil, kmserr.Internalf("derive with %s: %w", k.rec.KeyID, err)
	}
	return &kmsapi.DeriveSharedSecretOutput{KeyId: k.arn, SharedSecret: shared, KeyAgreementAlgorithm: in.KeyAgreementAlgorithm, KeyOrigin: kmsapi.OriginType(k.rec.Origin)}, nil
}
