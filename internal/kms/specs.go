package kms

import (
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

// checkSpecUsage refuses KeySpec/KeyUsage pairs AWS refuses, and the pairs
// AWS allows that kmsd does not implement yet.
func checkSpecUsage(spec, usage string) error {
	usages, err := keys.KeyUsages(spec)
	if err != nil {
		return kmserr.New(kmserr.Validation, "KeySpec %s is not valid.", spec)
	}
	if !slices.Contains(usages, usage) {
		return kmserr.New(kmserr.Validation, "KeyUsage %s is not compatible with KeySpec %s.", usage, spec)
	}
	switch {
	case spec != specSymmetric && !keys.Implemented(spec):
		return kmserr.New(kmserr.UnsupportedOperation, "KeySpec %s is not supported by this kmsd version.", spec)
	}
	return nil
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
