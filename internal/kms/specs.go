package kms

import (
	"crypto/fips140"
	"slices"
	"strings"

	"github.com/kmsd/kmsd/internal/keys"
	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
)

func isHMACSpec(spec string) bool { return strings.HasPrefix(spec, "HMAC_") }

// isAsymmetric reports whether a key's material is a private key.
func isAsymmetric(spec string) bool { return spec != specSymmetric && !isHMACSpec(spec) }

// keyType is the type of a key as AWS distinguishes them where it asks for
// keys of the same type (UpdateAlias), with its article, as a message reads.
func keyType(spec string) string {
	switch {
	case spec == specSymmetric:
		return "a symmetric"
	case isHMACSpec(spec):
		return "an HMAC"
	default:
		return "an asymmetric"
	}
}

// checkSpecUsage refuses KeySpec/KeyUsage pairs AWS refuses, the specs
// AWS does not offer in the Region, and, in FIPS 140-only mode, the specs
// kmsd cannot serve from the Go Cryptographic Module.
func checkSpecUsage(spec, usage, region string) error {
	usages, err := keys.KeyUsages(spec)
	if err != nil {
		return kmserr.New(kmserr.Validation, "KeySpec %s is not valid.", spec)
	}
	if !slices.Contains(usages, usage) {
		return kmserr.New(kmserr.Validation, "KeyUsage %s is not compatible with KeySpec %s", usage, spec)
	}
	if err := checkSpecRegion(spec, region); err != nil {
		return err
	}
	return checkFIPS(spec)
}

// isChinaRegion reports whether region is in the aws-cn partition.
func isChinaRegion(region string) bool { return arnPartition(region) == "aws-cn" }

// checkSpecRegion follows AWS's offer by Region: SM2 keys and key pairs
// exist only in the China Regions, and ML-KEM keys everywhere else.
func checkSpecRegion(spec, region string) error {
	switch {
	case spec == "SM2" && !isChinaRegion(region):
		return kmserr.New(kmserr.UnsupportedOperation, "KeySpec SM2 is available only in the China Regions.")
	case strings.HasPrefix(spec, "ML_KEM_") && isChinaRegion(region):
		return kmserr.New(kmserr.UnsupportedOperation, "KeySpec %s is not available in the China Regions.", spec)
	}
	return nil
}

// checkFIPS refuses, in FIPS 140-only mode, a spec whose implementation is
// outside the Go Cryptographic Module.
func checkFIPS(spec string) error {
	if fips140.Enforced() && !keys.FIPSApproved(spec) {
		return errNotFIPS("KeySpec " + spec)
	}
	return nil
}

func errNotFIPS(what string) error {
	return kmserr.New(kmserr.UnsupportedOperation, "%s is not available in FIPS 140-only mode.", what)
}

// generateMaterial makes fresh key material of a spec: AES-256 bytes, HMAC
// key bytes, or a PKCS#8 private key.
func generateMaterial(spec string) (secret.Bytes, error) {
	switch {
	case spec == specSymmetric:
		return keys.GenerateSymmetric(), nil
	case isHMACSpec(spec):
		return keys.GenerateHMAC(spec)
	default:
		k, err := keys.Generate(spec)
		if err != nil {
			return nil, err
		}
		return k.MarshalPrivate()
	}
}

func isCustomerMasterKeySpec(spec string) bool {
	return slices.Contains(kmsapi.CustomerMasterKeySpec("").Values(), kmsapi.CustomerMasterKeySpec(spec))
}

// enumList converts a table's algorithm names to an enum slice, keeping nil as nil.
func enumList[E ~string](in []string) []E {
	if in == nil {
		return nil
	}
	out := make([]E, len(in))
	for i, v := range in {
		out[i] = E(v)
	}
	return out
}
