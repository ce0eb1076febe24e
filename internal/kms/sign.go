package kms

import (
	"context"
	"errors"
	"strings"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
)

// usableFor checks state and key usage for an operation.
func usableFor(k *cachedKey, usage, op string) error {
	if err := checkState(k, ruleCrypto); err != nil {
		return err
	}
	if k.rec.KeyUsage != usage {
		return kmserr.New(kmserr.InvalidKeyUsage, "%s key usage is %s which is not valid for %s.", k.arn, k.rec.KeyUsage, op)
	}
	return checkFIPS(k.rec.KeySpec)
}

// signingError maps the primitives' refusals to AWS's exceptions.
func signingError(k *cachedKey, alg, messageType string, err error) error {
	switch {
	case errors.Is(err, keys.ErrDigestLength):
		return kmserr.New(kmserr.Validation, "Digest is invalid length for algorithm %s.", alg)
	case errors.Is(err, keys.ErrMessageType) && strings.HasPrefix(k.rec.KeySpec, "ML_DSA_"):
		return kmserr.New(kmserr.Validation, "Message type %s is incompatible with key spec %s.", messageType, k.rec.KeySpec)
	case errors.Is(err, keys.ErrMessageType):
		return kmserr.New(kmserr.Validation, "Message type %s is incompatible with signing algorithm %s for key spec %s.", messageType, alg, k.rec.KeySpec)
	case errors.Is(err, keys.ErrUnsupportedAlgorithm):
		return kmserr.New(kmserr.InvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", alg, k.rec.KeySpec)
	default:
		return kmserr.Internalf("sign with %s: %w", k.rec.KeyID, err)
	}
}

func messageTypeOf(mt kmsapi.MessageType) string {
	if mt == "" {
		return keys.MessageRaw
	}
	return string(mt)
}

// Sign signs a message or digest with an asymmetric SIGN_VERIFY key.
func (s *Service) Sign(ctx context.Context, c *Call, in *kmsapi.SignInput) (*kmsapi.SignOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	c.conditions = requestConditions("kms:signingalgorithm", string(in.SigningAlgorithm), "kms:messagetype", messageTypeOf(in.MessageType))
	k, err := s.lookup(ctx, c, in.KeyId, keyOrAlias, "kms:Sign", nil, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if err := usableFor(k, keys.UsageSignVerify, "Sign"); err != nil {
		return nil, err
	}
	if isDryRun(in.DryRun) {
		return nil, errDryRun
	}
	mt := messageTypeOf(in.MessageType)
	sig, err := k.asym.Sign(string(in.SigningAlgorithm), mt, in.Message)
	if err != nil {
		return nil, signingError(k, string(in.SigningAlgorithm), mt, err)
	}
	return &kmsapi.SignOutput{KeyId: k.arn, Signature: sig, SigningAlgorithm: in.SigningAlgorithm}, nil
}

// Verify checks a signature; a signature that does not verify is
// KMSInvalidSignatureException, never SignatureValid=false, as in AWS.
func (s *Service) Verify(ctx context.Context, c *Call, in *kmsapi.VerifyInput) (*kmsapi.VerifyOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	c.conditions = requestConditions("kms:signingalgorithm", string(in.SigningAlgorithm), "kms:messagetype", messageTypeOf(in.MessageType))
	k, err := s.lookup(ctx, c, in.KeyId, keyOrAlias, "kms:Verify", nil, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if err := usableFor(k, keys.UsageSignVerify, "Verify"); err != nil {
		return nil, err
	}
	if isDryRun(in.DryRun) {
		return nil, errDryRun
	}
	mt := messageTypeOf(in.MessageType)
	err = k.asym.Verify(string(in.SigningAlgorithm), mt, in.Message, in.Signature)
	if errors.Is(err, keys.ErrInvalidSignature) {
		return nil, kmserr.New(kmserr.InvalidSignatureVerification, "")
	}
	if err != nil {
		return nil, signingError(k, string(in.SigningAlgorithm), mt, err)
	}
	return &kmsapi.VerifyOutput{KeyId: k.arn, SignatureValid: kmsapi.Bool(true), SigningAlgorithm: in.SigningAlgorithm}, nil
}

// GetPublicKey returns an asymmetric key's public key as DER SubjectPublicKeyInfo.
func (s *Service) GetPublicKey(ctx context.Context, c *Call, in *kmsapi.GetPublicKeyInput) (*kmsapi.GetPublicKeyOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	k, err := s.lookup(ctx, c, in.KeyId, keyOrAlias, "kms:GetPublicKey", nil, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if err := checkState(k, ruleCrypto); err != nil {
		return nil, err
	}
	if err := checkFIPS(k.rec.KeySpec); err != nil {
		return nil, err
	}
	if k.asym == nil {
		return nil, kmserr.New(kmserr.UnsupportedOperation, "%s key spec %s is not valid for GetPublicKey.", k.arn, k.rec.KeySpec)
	}
	md := metadata(k.rec)
	return &kmsapi.GetPublicKeyOutput{
		KeyId: k.arn, PublicKey: k.asym.PublicKeyDER(), KeySpec: md.KeySpec, CustomerMasterKeySpec: md.CustomerMasterKeySpec,
		KeyUsage: md.KeyUsage, SigningAlgorithms: md.SigningAlgorithms, EncryptionAlgorithms: md.EncryptionAlgorithms,
		KeyAgreementAlgorithms: md.KeyAgreementAlgorithms, EncapsulationAlgorithms: md.EncapsulationAlgorithms,
	}, nil
}
