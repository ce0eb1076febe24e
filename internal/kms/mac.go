package kms

import (
	"context"
	"errors"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
)

func macError(k *cachedKey, alg string, err error) error {
	if errors.Is(err, keys.ErrUnsupportedAlgorithm) {
		return kmserr.New(kmserr.InvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", alg, k.rec.KeySpec)
	}
	return kmserr.Internalf("mac with %s: %w", k.rec.KeyID, err)
}

// GenerateMac computes an HMAC with a GENERATE_VERIFY_MAC key.
func (s *Service) GenerateMac(ctx context.Context, c *Call, in *kmsapi.GenerateMacInput) (*kmsapi.GenerateMacOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	c.conditions = requestConditions("kms:macalgorithm", string(in.MacAlgorithm))
	k, err := s.lookup(ctx, c, in.KeyId, keyOrAlias, "kms:GenerateMac", nil, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if err := usableFor(k, keys.UsageGenerateVerifyMAC, "GenerateMac"); err != nil {
		return nil, err
	}
	if isDryRun(in.DryRun) {
		return nil, errDryRun
	}
	mac, err := keys.MAC(k.rec.KeySpec, string(in.MacAlgorithm), k.materialOf(k.current.String()), in.Message)
	if err != nil {
		return nil, macError(k, string(in.MacAlgorithm), err)
	}
	return &kmsapi.GenerateMacOutput{Mac: mac, MacAlgorithm: in.MacAlgorithm, KeyId: k.arn}, nil
}

// VerifyMac recomputes an HMAC and compares it in constant time; a mismatch
// is KMSInvalidMacException, as in AWS.
func (s *Service) VerifyMac(ctx context.Context, c *Call, in *kmsapi.VerifyMacInput) (*kmsapi.VerifyMacOutput, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	c.conditions = requestConditions("kms:macalgorithm", string(in.MacAlgorithm))
	k, err := s.lookup(ctx, c, in.KeyId, keyOrAlias, "kms:VerifyMac", nil, in.GrantTokens)
	if err != nil {
		return nil, err
	}
	if err := usableFor(k, keys.UsageGenerateVerifyMAC, "VerifyMac"); err != nil {
		return nil, err
	}
	if isDryRun(in.DryRun) {
		return nil, errDryRun
	}
	err = keys.VerifyMAC(k.rec.KeySpec, string(in.MacAlgorithm), k.materialOf(k.current.String()), in.Message, in.Mac)
	if errors.Is(err, keys.ErrInvalidMAC) {
		return nil, kmserr.New(kmserr.InvalidMac, "")
	}
	if err != nil {
		return nil, macError(k, string(in.MacAlgorithm), err)
	}
	return &kmsapi.VerifyMacOutput{KeyId: k.arn, MacValid: kmsapi.Bool(true), MacAlgorithm: in.MacAlgorithm}, nil
}
