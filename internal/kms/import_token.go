package kms

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
)

// Import tokens and wrapping parameters (see import.go).

// checkWrappingParams refuses the wrapping algorithms and key specs AWS
// does not offer here: RSAES_PKCS1_V1_5 everywhere since October 2023, SM2
// and SM2PKE outside the China Regions and the RSA_AES algorithms inside
// them, mismatched pairs, and, in FIPS 140-only mode, SHA-1 and SM2.
func checkWrappingParams(spec, alg, region string) error {
	china := isChinaRegion(region)
	switch {
	case alg == "RSAES_PKCS1_V1_5":
		return kmserr.New(kmserr.UnsupportedOperation, "The RSAES_PKCS1_V1_5 wrapping algorithm is not supported: AWS KMS stopped accepting it on October 10, 2023. Use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256.")
	case (spec == "SM2" || alg == keys.WrapSM2PKE) && !china:
		return kmserr.New(kmserr.UnsupportedOperation, "WrappingKeySpec SM2 and WrappingAlgorithm SM2PKE are available only in the China Regions.")
	case (alg == keys.WrapRSAAESKWPSHA1 || alg == keys.WrapRSAAESKWPSHA256) && china:
		return kmserr.New(kmserr.UnsupportedOperation, "WrappingAlgorithm %s is not available in the China Regions.", alg)
	}
	switch err := keys.CheckWrapping(spec, alg); {
	case errors.Is(err, keys.ErrNotFIPSApproved):
		if spec == "SM2" {
			return errNotFIPS("WrappingKeySpec SM2")
		}
		return errNotFIPS("WrappingAlgorithm " + alg)
	case err != nil:
		return kmserr.New(kmserr.UnsupportedOperation, "WrappingAlgorithm %s is not compatible with WrappingKeySpec %s.", alg, spec)
	}
	return nil
}

// checkWrapFits refuses the algorithms that cannot carry the key's
// material, as AWS documents them: RSAES_OAEP cannot wrap an RSA private
// key (too large for one RSA block) and, with an RSA_2048 wrapping key,
// not an ECC_NIST_P521 one; SM2PKE cannot wrap an RSA private key either.
func checkWrapFits(keySpec, spec, alg string) error {
	direct := alg == keys.WrapOAEPSHA1 || alg == keys.WrapOAEPSHA256 || alg == keys.WrapSM2PKE
	rsaKey := len(keySpec) > 4 && keySpec[:4] == "RSA_"
	if direct && (rsaKey || keySpec == "ECC_NIST_P521" && spec == "RSA_2048") {
		return kmserr.New(kmserr.UnsupportedOperation, "WrappingAlgorithm %s with WrappingKeySpec %s cannot wrap %s key material. Use an RSA_AES_KEY_WRAP algorithm.", alg, spec, keySpec)
	}
	return nil
}

func importTokenAAD(r *keyRecord) []byte {
	return []byte("kmsd/import-token/v1|" + r.partition() + "|" + r.KeyID)
}

// encodeImportToken lays out a token's plaintext: version (1) | ValidTo
// (8, unix nanos) | algorithm length (1) | algorithm | key spec length (1)
// | key spec | wrapping private key (PKCS#8).
func encodeImportToken(validTo time.Time, alg, spec string, priv secret.Bytes) secret.Bytes {
	b := make(secret.Bytes, 0, 11+len(alg)+len(spec)+len(priv))
	b = append(b, importTokenVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(validTo.UnixNano()))
	b = append(append(b, byte(len(alg))), alg...)
	b = append(append(b, byte(len(spec))), spec...)
	return append(b, priv...)
}

type importToken struct {
	validTo   time.Time
	alg, spec string
	priv      secret.Bytes // aliases the unsealed token; wipe that
}

var errBadToken = errors.New("malformed import token")

func decodeImportToken(b secret.Bytes) (importToken, error) {
	var t importToken
	if len(b) < 10 || b[0] != importTokenVersion {
		return t, errBadToken
	}
	t.validTo = time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9]))).UTC()
	rest := b[9:]
	field := func() (string, bool) {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return "", false
		}
		v := string(rest[1 : 1+int(rest[0])])
		rest = rest[1+int(rest[0]):]
		return v, true
	}
	var ok1, ok2 bool
	t.alg, ok1 = field()
	t.spec, ok2 = field()
	if !ok1 || !ok2 || len(rest) == 0 {
		return t, errBadToken
	}
	t.priv = rest
	return t, nil
}

// openImportToken unseals a token for key r and checks that it is still
// valid.
func (s *Service) openImportToken(r *keyRecord, token []byte) (importToken, secret.Bytes, error) {
	pt, err := s.sealer.Unseal(token, importTokenAAD(r))
	if err != nil {
		return importToken{}, nil, kmserr.New(kmserr.InvalidImportToken, "The import token is invalid or belongs to another KMS key. Use the import token and public key of one GetParametersForImport response for %s.", r.arn())
	}
	t, err := decodeImportToken(pt)
	if err != nil {
		pt.Wipe()
		return importToken{}, nil, kmserr.New(kmserr.InvalidImportToken, "The import token is invalid.")
	}
	if s.now().After(t.validTo) {
		pt.Wipe()
		return importToken{}, nil, kmserr.New(kmserr.ExpiredImportToken, "The import token expired at %s. Call GetParametersForImport for a new public key and import token.", t.validTo.Format(time.RFC3339))
	}
	return t, pt, nil
}

// unwrapWith unwraps material with a token's wrapping key and algorithm.
func unwrapWith(tok importToken, wrapped []byte) (secret.Bytes, error) {
	w, err := keys.ParsePrivate(tok.spec, tok.priv)
	if errors.Is(err, keys.ErrNotFIPSApproved) {
		return nil, errNotFIPS("WrappingKeySpec " + tok.spec)
	}
	if err != nil {
		return nil, kmserr.New(kmserr.InvalidImportToken, "The import token is invalid.")
	}
	material, err := keys.Unwrap(w, tok.alg, wrapped)
	switch {
	case errors.Is(err, keys.ErrNotFIPSApproved):
		return nil, errNotFIPS("WrappingAlgorithm " + tok.alg)
	case err != nil:
		return nil, kmserr.New(kmserr.InvalidCiphertext, "The EncryptedKeyMaterial could not be unwrapped with the wrapping key and algorithm (%s) of the import token.", tok.alg)
	}
	return material, nil
}
