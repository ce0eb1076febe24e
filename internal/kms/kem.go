package kms

import (
	"context"
	"errors"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
)

// usableForKEM checks an ML-KEM key and the algorithm for Encapsulate or Decapsulate.
func usableForKEM(k *cachedKey, op string, alg kmsapi.EncapsulationAlgorithmSpec) error {
	if err := usableFor(k, keys.UsageEncapsulateDecapsulate, op); err != nil {
		return err
	}
	if alg != kmsapi.EncapsulationAlgorithmSpecMLKEM {
		return kmserr.New(kmserr.InvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", alg, k.rec.KeySpec)
	}
	return nil
}

// Encapsulate makes a fresh shared secret and its ML-KEM ciphertext under
// the key's encapsulation (public) key (FIPS 203).
func (s *Service) Encapsulate(ctx context.Context, c *Call, in *kmsapi.EncapsulateInput) (*kmsapi.EncapsulateOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	k, err := s.lookup(ctx, c, in.KeyId, keyOrAlias, "kms:Encapsulate", nil, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if err := usableForKEM(k, "Encapsulate", in.EncapsulationAlgorithm); err != nil {
		return nil, err
	}
	if isDryRun(in.DryRun) {
		return nil, errDryRun
	}
	shared, ct, err := k.asym.Encapsulate()
	if err != nil {
		return nil, kmserr.Internalf("encapsulate with %s: %w", k.rec.KeyID, err)
	}
	return &kmsapi.EncapsulateOutput{KeyId: k.arn, SharedSecret: shared, SharedSecretCiphertextBlob: ct, EncapsulationAlgorithm: in.EncapsulationAlgorithm}, nil
}

// Decapsulate recovers the shared secret of an ML-KEM ciphertext with the
// key's decapsulation (private) key. A well-formed but altered ciphertext
// yields a different secret, not an error, as ML-KEM specifies.
func (s *Service) Decapsulate(ctx context.Context, c *Call, in *kmsapi.DecapsulateInput) (*kmsapi.DecapsulateOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	k, err := s.lookup(ctx, c, in.KeyId, keyOrAlias, "kms:Decapsulate", nil, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if err := usableForKEM(k, "Decapsulate", in.EncapsulationAlgorithm); err != nil {
		return nil, err
	}
	if isDryRun(in.DryRun) {
		return nil, errDryRun
	}
	shared, err := k.asym.Decapsulate(in.SharedSecretCiphertextBlob)
	if errors.Is(err, keys.ErrInvalidCiphertext) {
		return nil, kmserr.New(kmserr.InvalidCiphertext, "")
	}
	if err != nil {
		return nil, kmserr.Internalf("decapsulate with %s: %w", k.rec.KeyID, err)
	}
	return &kmsapi.DecapsulateOutput{KeyId: k.arn, SharedSecret: shared, EncapsulationAlgorithm: in.EncapsulationAlgorithm}, nil
}
