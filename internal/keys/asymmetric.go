package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/fips140"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"

	"filippo.io/mldsa"
	mldsax509 "filippo.io/mldsa/x509"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/kmsd/kmsd/internal/secret"
)

// AsymmetricKey is the private key of an asymmetric KMS key: RSA, NIST ECC,
// secp256k1, Ed25519, ML-DSA, ML-KEM or SM2. It prints only its key spec;
// the private key leaves it only through MarshalPrivate, as secret.Bytes.
// Its methods only read the key, so one AsymmetricKey is safe for
// concurrent use.
//
// A key family adds a field here and a case to Generate, MarshalPrivate,
// ParsePrivate, initPublic and the operations it supports.
type AsymmetricKey struct {
	spec string
	// Exactly one is set, according to spec.
	rsa     *rsa.PrivateKey
	ec      *ecdsa.PrivateKey
	k1      *secp256k1.PrivateKey
	ed      ed25519.PrivateKey
	mldsa   *mldsa.PrivateKey
	kem512  *mlkem512Key
	kem768  *mlkem.DecapsulationKey768
	kem1024 *mlkem.DecapsulationKey1024
	sm2     *sm2.PrivateKey

	pub       publicKey // the public half, for Verify and Encrypt
	publicDER []byte    // SubjectPublicKeyInfo DER, computed once
}

// KeySpec returns the AWS KeySpec of the key.
func (k *AsymmetricKey) KeySpec() string { return k.spec }

// String, GoString and Format print the key spec and nothing else, so a key
// in a log line or an error cannot leak.
func (k *AsymmetricKey) String() string             { return "keys.AsymmetricKey(" + k.spec + ")" }
func (k *AsymmetricKey) GoString() string           { return k.String() }
func (k *AsymmetricKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

func rsaBits(keySpec string) int {
	switch keySpec {
	case "RSA_2048":
		return 2048
	case "RSA_3072":
		return 3072
	case "RSA_4096":
		return 4096
	}
	return 0
}

func eccCurve(keySpec string) elliptic.Curve {
	switch keySpec {
	case "ECC_NIST_P256":
		return elliptic.P256()
	case "ECC_NIST_P384":
		return elliptic.P384()
	case "ECC_NIST_P521":
		return elliptic.P521()
	}
	return nil
}

// Generate returns a fresh private key for an asymmetric keySpec:
// RSA_2048|3072|4096, ECC_NIST_P256|P384|P521, ECC_SECG_P256K1,
// ECC_NIST_EDWARDS25519, ML_DSA_44|65|87, ML_KEM_512|768|1024, SM2. Any
// other spec gives ErrUnsupportedKeySpec (HMAC keys come from GenerateHMAC,
// symmetric ones from GenerateSymmetric). In FIPS 140-only mode the specs
// outside the Go Cryptographic Module give ErrNotFIPSApproved.
func Generate(keySpec string) (*AsymmetricKey, error) {
	if err := checkFIPSSpec(keySpec); err != nil {
		return nil, err
	}
	k := &AsymmetricKey{spec: keySpec}
	var err error
	switch {
	case rsaBits(keySpec) != 0:
		k.rsa, err = rsa.GenerateKey(rand.Reader, rsaBits(keySpec))
	case eccCurve(keySpec) != nil:
		k.ec, err = ecdsa.GenerateKey(eccCurve(keySpec), rand.Reader)
	case keySpec == "ECC_SECG_P256K1":
		k.k1, err = secp256k1.GeneratePrivateKey()
	case keySpec == "ECC_NIST_EDWARDS25519":
		_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	case mldsaParams(keySpec) != nil:
		k.mldsa, err = mldsa.GenerateKey(*mldsaParams(keySpec))
	case keySpec == "ML_KEM_512":
		k.kem512, err = generateMLKEM512()
	case keySpec == "SM2":
		k.sm2, err = sm2.GenerateKey(rand.Reader)
	case keySpec == "ML_KEM_768":
		k.kem768, err = mlkem.GenerateKey768()
	case keySpec == "ML_KEM_1024":
		k.kem1024, err = mlkem.GenerateKey1024()
	default:
		return nil, ErrUnsupportedKeySpec
	}
	if err != nil {
		return nil, fmt.Errorf("keys: generate %s: %w", keySpec, err)
	}
	if err := k.initPublic(); err != nil {
		return nil, err
	}
	return k, nil
}

// MarshalPrivate returns the private key as PKCS#8 DER (RSA, ECC,
// secp256k1, Ed25519, SM2), as the 64-byte FIPS 203 seed (d || z) for
// ML-KEM, or as the 32-byte FIPS 204 seed (xi) for ML-DSA. ParsePrivate
// reads it back.
func (k *AsymmetricKey) MarshalPrivate() (secret.Bytes, error) {
	switch {
	case k.k1 != nil:
		return marshalSecp256k1PKCS8(k.k1)
	case k.sm2 != nil:
		der, err := smx509.MarshalPKCS8PrivateKey(k.sm2)
		if err != nil {
			return nil, fmt.Errorf("keys: marshal SM2 private key: %w", err)
		}
		return secret.Bytes(der), nil
	case k.mldsa != nil:
		return secret.Bytes(k.mldsa.Bytes()), nil
	case k.kem512 != nil:
		return append(secret.Bytes(nil), k.kem512.seed...), nil
	case k.kem768 != nil:
		return secret.Bytes(k.kem768.Bytes()), nil
	case k.kem1024 != nil:
		return secret.Bytes(k.kem1024.Bytes()), nil
	}
	var priv any
	switch {
	case k.rsa != nil:
		priv = k.rsa
	case k.ec != nil:
		priv = k.ec
	case k.ed != nil:
		priv = k.ed
	default:
		return nil, ErrUnsupportedKeySpec
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: marshal %s private key: %w", k.spec, err)
	}
	return secret.Bytes(der), nil
}

// ParsePrivate parses what MarshalPrivate returns (or any PKCS#8 key, such
// as imported material) and checks that it is a key of keySpec: the RSA
// modulus size, the curve and the algorithm must all match. Every failure
// is ErrInvalidPrivateKey (or ErrUnsupportedKeySpec), with no detail that
// could echo the material. In FIPS 140-only mode a spec outside the Go
// Cryptographic Module, or an RSA key whose public exponent is 2^16 or
// less, gives ErrNotFIPSApproved.
//
// The public key is always derived from the private half; a public point
// embedded in an EC private key is not trusted, so MarshalPrivate of the
// result is the canonical encoding.
func ParsePrivate(keySpec string, der secret.Bytes) (*AsymmetricKey, error) {
	if err := checkFIPSSpec(keySpec); err != nil {
		return nil, err
	}
	k := &AsymmetricKey{spec: keySpec}
	switch keySpec {
	case "ECC_SECG_P256K1":
		p, err := parseSecp256k1PKCS8(der)
		if err != nil {
			return nil, ErrInvalidPrivateKey
		}
		k.k1 = p
	case "SM2":
		p, err := parseSM2PKCS8(der)
		if err != nil {
			return nil, ErrInvalidPrivateKey
		}
		k.sm2 = p
	case "ML_DSA_44", "ML_DSA_65", "ML_DSA_87":
		p, err := mldsa.NewPrivateKey(*mldsaParams(keySpec), der)
		if err != nil {
			return nil, ErrInvalidPrivateKey
		}
		k.mldsa = p
	case "ML_KEM_512":
		p, err := newMLKEM512(der)
		if err != nil {
			return nil, ErrInvalidPrivateKey
		}
		k.kem512 = p
	case "ML_KEM_768":
		dk, err := mlkem.NewDecapsulationKey768(der)
		if err != nil {
			return nil, ErrInvalidPrivateKey
		}
		k.kem768 = dk
	case "ML_KEM_1024":
		dk, err := mlkem.NewDecapsulationKey1024(der)
		if err != nil {
			return nil, ErrInvalidPrivateKey
		}
		k.kem1024 = dk
	default:
		if !Implemented(keySpec) || rsaBits(keySpec) == 0 && eccCurve(keySpec) == nil && keySpec != "ECC_NIST_EDWARDS25519" {
			return nil, ErrUnsupportedKeySpec
		}
		// x509 ignores bytes after the PKCS#8 structure; refuse them so
		// each key has one encoding.
		var whole asn1.RawValue
		if rest, err := asn1.Unmarshal(der, &whole); err != nil || len(rest) != 0 {
			return nil, ErrInvalidPrivateKey
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, ErrInvalidPrivateKey
		}
		switch p := priv.(type) {
		case *rsa.PrivateKey:
			if p.N.BitLen() != rsaBits(keySpec) {
				return nil, ErrInvalidPrivateKey
			}
			// The module refuses such exponents in FIPS 140-only mode
			// (FIPS 186-5 asks for e > 2^16): the key could neither
			// sign, verify, encrypt nor decrypt.
			if fips140.Enforced() && p.E <= 1<<16 {
				return nil, ErrNotFIPSApproved
			}
			k.rsa = p
		case *ecdsa.PrivateKey:
			if c := eccCurve(keySpec); c == nil || p.Curve != c {
				return nil, ErrInvalidPrivateKey
			}
			k.ec = p
		case ed25519.PrivateKey:
			if keySpec != "ECC_NIST_EDWARDS25519" {
				return nil, ErrInvalidPrivateKey
			}
			k.ed = p
		default:
			return nil, ErrInvalidPrivateKey
		}
	}
	if err := k.initPublic(); err != nil {
		return nil, ErrInvalidPrivateKey
	}
	return k, nil
}

func (k *AsymmetricKey) initPublic() error {
	var der []byte
	var err error
	k.pub = publicKey{spec: k.spec}
	switch {
	case k.rsa != nil:
		k.pub.rsa = &k.rsa.PublicKey
		der, err = x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	case k.ec != nil:
		k.pub.ec = &k.ec.PublicKey
		der, err = x509.MarshalPKIXPublicKey(&k.ec.PublicKey)
	case k.k1 != nil:
		k.pub.k1 = k.k1.PubKey()
		der, err = marshalSecp256k1PKIX(k.pub.k1)
	case k.ed != nil:
		k.pub.ed = k.ed.Public().(ed25519.PublicKey)
		der, err = x509.MarshalPKIXPublicKey(k.ed.Public())
	case k.mldsa != nil:
		k.pub.mldsa = k.mldsa.PublicKey()
		der, err = mldsax509.MarshalPKIXPublicKey(k.pub.mldsa)
	case k.sm2 != nil:
		k.pub.sm2 = &k.sm2.PublicKey
		der, err = smx509.MarshalPKIXPublicKey(&k.sm2.PublicKey)
	case k.kem512 != nil:
		der, err = marshalMLKEMPublicKey(mlkemOID(k.spec), k.kem512.encapsulationKey)
	case k.kem768 != nil:
		der, err = marshalMLKEMPublicKey(mlkemOID(k.spec), k.kem768.EncapsulationKey().Bytes())
	case k.kem1024 != nil:
		der, err = marshalMLKEMPublicKey(mlkemOID(k.spec), k.kem1024.EncapsulationKey().Bytes())
	default:
		return ErrUnsupportedKeySpec
	}
	if err != nil {
		return fmt.Errorf("keys: marshal %s public key: %w", k.spec, err)
	}
	k.publicDER = der
	return nil
}

// PublicKeyDER returns the public key as a DER X.509 SubjectPublicKeyInfo,
// what GetPublicKey returns. For ML-KEM the SPKI carries the NIST algorithm
// OID (id-alg-ml-kem-768/1024, no parameters) and the raw FIPS 203
// encapsulation key as the BIT STRING, as in RFC 9935.
func (k *AsymmetricKey) PublicKeyDER() []byte {
	return append([]byte(nil), k.publicDER...)
}

// GenerateDataKeyPair returns a fresh key pair for a DataKeyPairSpec: the
// public key as SPKI DER and the private key as PKCS#8 DER. It supports
// every DataKeyPairSpec: RSA_2048|3072|4096, ECC_NIST_P256|P384|P521,
// ECC_SECG_P256K1, ECC_NIST_EDWARDS25519 and SM2.
func GenerateDataKeyPair(keyPairSpec string) (publicDER []byte, privateDER secret.Bytes, err error) {
	switch {
	case rsaBits(keyPairSpec) != 0, eccCurve(keyPairSpec) != nil:
	case keyPairSpec == "ECC_SECG_P256K1", keyPairSpec == "ECC_NIST_EDWARDS25519", keyPairSpec == "SM2":
	default:
		return nil, nil, ErrUnsupportedKeySpec
	}
	k, err := Generate(keyPairSpec)
	if err != nil {
		return nil, nil, err
	}
	priv, err := k.MarshalPrivate()
	if err != nil {
		return nil, nil, err
	}
	return k.PublicKeyDER(), priv, nil
}
