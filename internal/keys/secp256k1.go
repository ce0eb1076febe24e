package keys

import (
	"encoding/asn1"
	"errors"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secp256k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/kmsd/kmsd/internal/secret"
)

// secp256k1 keys use the standard X.509 encodings of named-curve EC keys
// (RFC 5480 SubjectPublicKeyInfo, RFC 5915 ECPrivateKey inside PKCS#8),
// which crypto/x509 does not write for this curve. The structures are
// plain ASN.1; the arithmetic is the decred module's.
var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
)

type ecAlgorithm struct {
	Algorithm asn1.ObjectIdentifier
	Curve     asn1.ObjectIdentifier
}

type ecSPKI struct {
	Algorithm ecAlgorithm
	PublicKey asn1.BitString
}

type pkcs8 struct {
	Version    int
	Algorithm  ecAlgorithm
	PrivateKey []byte
}

type ecPrivateKey struct {
	Version    int
	PrivateKey []byte
	Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

func marshalSecp256k1PKIX(pub *secp256k1.PublicKey) ([]byte, error) {
	pt := pub.SerializeUncompressed()
	return asn1.Marshal(ecSPKI{
		Algorithm: ecAlgorithm{Algorithm: oidECPublicKey, Curve: oidSecp256k1},
		PublicKey: asn1.BitString{Bytes: pt, BitLength: 8 * len(pt)},
	})
}

func marshalSecp256k1PKCS8(k *secp256k1.PrivateKey) (secret.Bytes, error) {
	scalar := secret.Bytes(k.Serialize())
	defer scalar.Wipe()
	pt := k.PubKey().SerializeUncompressed()
	inner, err := asn1.Marshal(ecPrivateKey{
		Version:    1,
		PrivateKey: scalar,
		PublicKey:  asn1.BitString{Bytes: pt, BitLength: 8 * len(pt)},
	})
	if err != nil {
		return nil, err
	}
	defer secret.Bytes(inner).Wipe()
	der, err := asn1.Marshal(pkcs8{
		Algorithm:  ecAlgorithm{Algorithm: oidECPublicKey, Curve: oidSecp256k1},
		PrivateKey: inner,
	})
	return secret.Bytes(der), err
}

var errSecp256k1Key = errors.New("keys: invalid secp256k1 private key")

// parseSecp256k1PKCS8 reads a PKCS#8 secp256k1 key. The scalar must be in
// [1, n-1]; an embedded public point is ignored, the public key is always
// derived from the scalar.
func parseSecp256k1PKCS8(der []byte) (*secp256k1.PrivateKey, error) {
	var p pkcs8
	if rest, err := asn1.Unmarshal(der, &p); err != nil || len(rest) != 0 || p.Version != 0 {
		return nil, errSecp256k1Key
	}
	if !p.Algorithm.Algorithm.Equal(oidECPublicKey) || !p.Algorithm.Curve.Equal(oidSecp256k1) {
		return nil, errSecp256k1Key
	}
	var ec ecPrivateKey
	if rest, err := asn1.Unmarshal(p.PrivateKey, &ec); err != nil || len(rest) != 0 || ec.Version != 1 {
		return nil, errSecp256k1Key
	}
	if len(ec.Curve) != 0 && !ec.Curve.Equal(oidSecp256k1) {
		return nil, errSecp256k1Key
	}
	if len(ec.PrivateKey) != 32 {
		return nil, errSecp256k1Key
	}
	var s secp256k1.ModNScalar
	if overflow := s.SetByteSlice(ec.PrivateKey); overflow || s.IsZero() {
		return nil, errSecp256k1Key
	}
	return secp256k1.NewPrivateKey(&s), nil
}

// verifySecp256k1 checks a DER ECDSA signature. The decred parser takes
// strict DER only (nothing appended inside or after the SEQUENCE, minimal
// INTEGERs) with R and S in [1, n-1]. It accepts both low and high S, as
// every ECDSA verifier outside Bitcoin consensus does: openssl and Java
// sign with either.
func verifySecp256k1(pub *secp256k1.PublicKey, hash, sig []byte) bool {
	s, err := secp256k1ecdsa.ParseDERSignature(sig)
	return err == nil && s.Verify(hash, pub)
}
