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
// or SM2 ENCRYPT_DECRYPT key (raw RSAES-OAEP or SM2PKE, as AWS returns
// them), after the state,
// usage and algorithm checks. With dryRun it stops at DryRunOperationException.
func encryptUnder(k *cachedKey, op string, pt []byte, ec map[string]string, alg kmsapi.EncryptionAlgorithmSpec, dryRun bool) ([]byte, kmsapi.EncryptionAlgorithmSpec, error) {
	if err := checkEncryptable(k, op, alg, ec); err != nil {
		return nil, "", err
	}
	if k.asym == nil {
		if dryRun {
			return nil, "", errDryRun
		}
		blob, err := k.seal(pt, ec)
		return blob, algSymmetric, err
	}
	if max := keys.MaxPlaintext(k.rec.KeySpec, string(alg)); len(pt) > max {
		return nil, "", kmserr.New(kmserr.Validation, "Algorithm %s and key spec %s cannot encrypt data larger than %d bytes.", alg, k.rec.KeySpec, max)
	}
	if dryRun {
		return nil, "", errDryRun
	}
	ct, err := k.asym.Encrypt(string(alg), pt)
	if errors.Is(err, keys.ErrNotFIPSApproved) {
		return nil, "", errNotFIPS("Algorithm " + string(alg))
	}
	if err != nil {
		return nil, "", kmserr.Internalf("encrypt under %s: %w", k.rec.KeyID, err)
	}
	return ct, alg, nil
}

// checkEncryptable is every check encryptUnder makes before it knows the
// plaintext: state, usage, algorithm and encryption context.
func checkEncryptable(k *cachedKey, op string, alg kmsapi.EncryptionAlgorithmSpec, ec map[string]string) error {
	if k.asym == nil {
		return usableForEncryption(k, op, alg)
	}
	return usableAsymmetric(k, op, alg, ec)
}

// usableAsymmetric checks an RSA encryption key for a request: state, usage,
// an RSAES_OAEP algorithm, and no encryption context (AWS binds none to
// asymmetric ciphertexts).
func usableAsymmetric(k *cachedKey, op string, alg kmsapi.EncryptionAlgorithmSpec, ec map[string]string) error {
	if err := usableFor(k, usageEncryptDecrypt, op); err != nil {
		return err
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
	var named *cachedKey
	if keyIDInput != "" {
		// Resolve and authorize the named key once, first, so a bad KeyId
		// reads as NotFound even when the ciphertext is malformed too.
		var err error
		if named, err = s.lookup(ctx, c, keyIDInput, keyOrAlias, action, ec, grantTokens); err != nil {
			return nil, nil, "", "", err
		}
		if named.asym != nil {
			return decryptAsymmetric(named, blob, ec, op, alg, dryRun)
		}
	}
	k, pt, mid, err := s.open(ctx, c, blob, named, action, ec, grantTokens, op, alg, dryRun)
	if err != nil {
		return nil, nil, "", "", err
	}
	return k, pt, mid.String(), algSymmetric, nil
}

// decryptAsymmetric decrypts a raw RSAES-OAEP ciphertext under a resolved,
// authorized RSA key.
func decryptAsymmetric(k *cachedKey, blob []byte, ec map[string]string, op string, alg kmsapi.EncryptionAlgorithmSpec, dryRun bool) (*cachedKey, secret.Bytes, string, kmsapi.EncryptionAlgorithmSpec, error) {
	if err := usableAsymmetric(k, op, alg, ec); err != nil {
		return nil, nil, "", "", err
	}
	if dryRun {
		return nil, nil, "", "", errDryRun
	}
	pt, err := k.asym.Decrypt(string(alg), blob)
	if errors.Is(err, keys.ErrNotFIPSApproved) {
		return nil, nil, "", "", errNotFIPS("Algorithm " + string(alg))
	}
	if errors.Is(err, keys.ErrInvalidCiphertext) {
		return nil, nil, "", "", kmserr.New(kmserr.InvalidCiphertext, "")
	}
	if err != nil {
		return nil, nil, "", "", kmserr.Internalf("decrypt under %s: %w", k.rec.KeyID, err)
	}
	return k, pt, "", alg, nil
}
