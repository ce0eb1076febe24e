package kms

import (
	"context"
	"errors"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
)

// encryptUnder encrypts with a symmetric key (kmsd's blob format) or an RSA
// ENCRYPT_DECRYPT key (raw RSAES-OAEP, as AWS returns it), after the state,
// usage and algorithm checks. With dryRun it stops at DryRunOperationException.
func encryptUnder(k *cachedKey, op string, pt []byte, ec map[string]string, alg kmsapi.EncryptionAlgorithmSpec, dryRun bool) ([]byte, kmsapi.EncryptionAlgorithmSpec, error) {
	if k.asym == nil {
		if err := usableForEncryption(k, op, alg); err != nil {
			return nil, "", err
		}
		if dryRun {
			return nil, "", errDryRun
		}
		blob, err := k.seal(pt, ec)
		return blob, algSymmetric, err
	}
	if err := usableAsymmetric(k, op, alg, ec); err != nil {
		return nil, "", err
	}
	if max := keys.MaxPlaintext(k.rec.KeySpec, string(alg)); len(pt) > max {
		return nil, "", kmserr.New(kmserr.Validation, "Algorithm %s and key spec %s cannot encrypt data larger than %d bytes.", alg, k.rec.KeySpec, max)
	}
	if dryRun {
		return nil, "", errDryRun
	}
	ct, err := k.asym.Encrypt(string(alg), pt)
	if err != nil {
		return nil, "", kmserr.Internalf("encrypt under %s: %w", k.rec.KeyID, err)
	}
	return ct, alg, nil
}

// usableAsymmetric checks an RSA encryption key for a request: state, usage,
// an RSAES_OAEP algorithm, and no encryption context (AWS binds none to
// asymmetric ciphertexts).
func usableAsymmetric(k *cachedKey, op string, alg kmsapi.EncryptionAlgorithmSpec, ec map[string]string) error {
	if err := checkState(k, ruleCrypto); err != nil {
		return err
	}
	if k.rec.KeyUsage != usageEncryptDecrypt {
		return kmserr.New(kmserr.InvalidKeyUsage, "%s key usage is %s which is not valid for %s.", k.arn, k.rec.KeyUsage, op)
	}
	if alg == "" || alg == algSymmetric || keys.MaxPlaintext(k.rec.KeySpec, string(alg)) <= 0 {
		if alg == "" {
			alg = algSymmetric
		}
		return kmserr.New(kmserr.InvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", alg, k.rec.KeySpec)
	}
	if len(ec) > 0 {
		return kmserr.New(kmserr.Validation, "EncryptionContext is not supported with asymmetric KMS keys.")
	}
	return nil
}

// decryptAny decrypts a symmetric blob, or, when KeyId names an RSA
// encryption key, a raw RSAES-OAEP ciphertext. It returns the key, the
// plaintext, the material id (empty for RSA, as AWS) and the algorithm.
func (s *Service) decryptAny(ctx context.Context, c *Call, blob []byte, keyIDInput, action string, ec map[string]string, grantTokens []string, op string, alg kmsapi.EncryptionAlgorithmSpec, dryRun bool) (*cachedKey, secret.Bytes, string, kmsapi.EncryptionAlgorithmSpec, error) {
	if keyIDInput != "" {
		if ref, err := parseKeyRef(&c.Caller, keyIDInput, keyOrAlias); err == nil {
			if k, err := s.resolve(ctx, ref); err == nil && k.asym != nil {
				return s.decryptAsymmetric(ctx, c, blob, keyIDInput, action, ec, grantTokens, op, alg, dryRun)
			}
		}
	}
	k, pt, mid, err := s.open(ctx, c, blob, keyIDInput, action, ec, grantTokens, op, alg, dryRun)
	if err != nil {
		return nil, nil, "", "", err
	}
	return k, pt, mid.String(), algSymmetric, nil
}

func (s *Service) decryptAsymmetric(ctx context.Context, c *Call, blob []byte, keyIDInput, action string, ec map[string]string, grantTokens []string, op string, alg kmsapi.EncryptionAlgorithmSpec, dryRun bool) (*cachedKey, secret.Bytes, string, kmsapi.EncryptionAlgorithmSpec, error) {
	k, err := s.lookup(ctx, c, keyIDInput, keyOrAlias, action, ec, grantTokens)
	if err != nil {
		return nil, nil, "", "", err
	}
	if err := usableAsymmetric(k, op, alg, ec); err != nil {
		return nil, nil, "", "", err
	}
	if dryRun {
		return nil, nil, "", "", errDryRun
	}
	pt, err := k.asym.Decrypt(string(alg), blob)
	if errors.Is(err, keys.ErrInvalidCiphertext) {
		return nil, nil, "", "", kmserr.New(kmserr.InvalidCiphertext, "")
	}
	if err != nil {
		return nil, nil, "", "", kmserr.Internalf("decrypt under %s: %w", k.rec.KeyID, err)
	}
	return k, pt, "", alg, nil
}
