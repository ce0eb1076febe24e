package main

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/kmsd/kmsd/internal/secret"
)

// OIDs of the ML-DSA parameter sets (FIPS 204, RFC 9881).
var mldsaOIDs = map[string]asn1.ObjectIdentifier{
	"ML_DSA_44": {2, 16, 840, 1, 101, 3, 4, 3, 17},
	"ML_DSA_65": {2, 16, 840, 1, 101, 3, 4, 3, 18},
	"ML_DSA_87": {2, 16, 840, 1, 101, 3, 4, 3, 19},
}

// privateKeyMaterial reads one PEM private key of keySpec and returns the
// material kmsd seeds: PKCS#8 DER ("PRIVATE KEY", as openssl genpkey
// writes it; "RSA PRIVATE KEY" and "EC PRIVATE KEY" of the NIST curves
// are converted), or the 32-byte seed of an ML-DSA key. The key itself is
// checked against the spec when it is seeded.
func privateKeyMaterial(keySpec string, pemText []byte) (secret.Bytes, error) {
	block, rest := pem.Decode(pemText)
	if block == nil {
		return nil, errors.New("no PEM block (-----BEGIN PRIVATE KEY-----)")
	}
	defer clear(block.Bytes)
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("more than one PEM block; give one private key")
	}
	switch {
	case keySpec == "" || keySpec == "SYMMETRIC_DEFAULT" || strings.HasPrefix(keySpec, "HMAC_"):
		return nil, fmt.Errorf("a private key is for an asymmetric key_spec, not %s (set key_spec, or give material)", firstNonEmpty(keySpec, "the default SYMMETRIC_DEFAULT"))
	case mldsaOIDs[keySpec] != nil:
		if block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("an ML-DSA key is a PKCS#8 PRIVATE KEY, not %s", block.Type)
		}
		return mldsaSeed(keySpec, block.Bytes)
	}
	switch block.Type {
	case "PRIVATE KEY":
		return secret.Bytes(clone(block.Bytes)), nil
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("not a PKCS#1 RSA private key")
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		return secret.Bytes(der), err
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("not a SEC 1 EC private key of a NIST curve; give a secp256k1 key as PKCS#8 (openssl pkcs8 -topk8 -nocrypt)")
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		return secret.Bytes(der), err
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("the private key is encrypted; give it unencrypted (openssl pkcs8 -topk8 -nocrypt)")
	}
	return nil, fmt.Errorf("a %s PEM block is not a private key kmsd reads (PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY)", block.Type)
}

// mldsaSeed returns the 32-byte seed in an ML-DSA PKCS#8 key of RFC 9881:
// its privateKey is the seed ([0] IMPLICIT OCTET STRING) or both the seed
// and the expanded key. kmsd keeps ML-DSA keys as their seed, so a key
// given as the expanded key alone cannot be seeded.
func mldsaSeed(keySpec string, der []byte) (secret.Bytes, error) {
	var p8 struct {
		Version    int
		Algorithm  struct{ Algorithm asn1.ObjectIdentifier }
		PrivateKey []byte
	}
	rest, err := asn1.Unmarshal(der, &p8)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("not a PKCS#8 private key")
	}
	defer clear(p8.PrivateKey)
	if want := mldsaOIDs[keySpec]; !p8.Algorithm.Algorithm.Equal(want) {
		return nil, fmt.Errorf("the key's algorithm %v is not %s (%v)", p8.Algorithm.Algorithm, keySpec, want)
	}
	var raw asn1.RawValue
	if rest, err := asn1.Unmarshal(p8.PrivateKey, &raw); err != nil || len(rest) != 0 {
		return nil, errors.New("not an ML-DSA private key")
	}
	var seed []byte
	switch {
	case raw.Class == asn1.ClassContextSpecific && raw.Tag == 0 && !raw.IsCompound:
		seed = raw.Bytes
	case raw.Class == asn1.ClassUniversal && raw.Tag == asn1.TagSequence:
		var both struct{ Seed, Expanded []byte }
		if _, err := asn1.Unmarshal(p8.PrivateKey, &both); err != nil {
			return nil, errors.New("not an ML-DSA private key")
		}
		defer clear(both.Expanded)
		seed = both.Seed
	case raw.Class == asn1.ClassUniversal && raw.Tag == asn1.TagOctetString:
		return nil, errors.New("the ML-DSA key holds only its expanded form; kmsd keeps ML-DSA keys as their 32-byte seed, so export the key with its seed")
	}
	if len(seed) != 32 {
		return nil, errors.New("not an ML-DSA private key with a 32-byte seed")
	}
	return secret.Bytes(clone(seed)), nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
