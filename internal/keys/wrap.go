package keys

import (
	"crypto/fips140"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"

	kwp "github.com/tink-crypto/tink-go/v2/kwp/subtle"

	"github.com/kmsd/kmsd/internal/secret"
)

// Importing key material (BYOK): the wrapping key pair that protects
// material in transit, the unwrapping of what a caller sends, and the
// checks that the material fits its key spec.
//
// Wrapping algorithms (AWS's AlgorithmSpec), as GetParametersForImport
// documents them:
//   - RSAES_OAEP_SHA_1 / RSAES_OAEP_SHA_256: the material is encrypted
//     directly with RSAES-OAEP (MGF1 over the same hash, empty label);
//   - RSA_AES_KEY_WRAP_SHA_1 / RSA_AES_KEY_WRAP_SHA_256: a fresh 256-bit
//     AES key is encrypted with RSAES-OAEP and the material is wrapped
//     under it with AES Key Wrap with Padding (RFC 5649, NIST SP 800-38F
//     KWP); the caller sends the RSA ciphertext (exactly the modulus size)
//     followed by the KWP output;
//   - SM2PKE: SM2 public-key encryption, with an SM2 wrapping key (the
//     China Regions).
//
// RSAES_PKCS1_V1_5, which AWS stopped accepting on 10 October 2023, is not
// one of them: PKCS#1 v1.5 decryption is a padding oracle.
const (
	WrapOAEPSHA1        = "RSAES_OAEP_SHA_1"
	WrapOAEPSHA256      = "RSAES_OAEP_SHA_256"
	WrapRSAAESKWPSHA1   = "RSA_AES_KEY_WRAP_SHA_1"
	WrapRSAAESKWPSHA256 = "RSA_AES_KEY_WRAP_SHA_256"
	WrapSM2PKE          = "SM2PKE"
	wrapPKCS1v15        = "RSAES_PKCS1_V1_5"
)

// kwpKeySize is the size of the ephemeral AES key of the RSA_AES_KEY_WRAP
// algorithms: AWS specifies AES-256.
const kwpKeySize = 32

// ErrWrapPKCS1v15 is CheckWrapping's answer for RSAES_PKCS1_V1_5.
var ErrWrapPKCS1v15 = errors.New("keys: the RSAES_PKCS1_V1_5 wrapping algorithm is not supported")

// wrapOAEP returns the OAEP algorithm an RSA wrapping algorithm uses, and
// whether it also wraps with AES-KWP.
func wrapOAEP(alg string) (oaep string, aesKWP bool, ok bool) {
	switch alg {
	case WrapOAEPSHA1, WrapOAEPSHA256:
		return alg, false, true
	case WrapRSAAESKWPSHA1:
		return WrapOAEPSHA1, true, true
	case WrapRSAAESKWPSHA256:
		return WrapOAEPSHA256, true, true
	}
	return "", false, false
}

// CheckWrapping reports whether wrappingKeySpec (RSA_2048, RSA_3072,
// RSA_4096 or SM2) and alg go together: the RSA algorithms with an RSA
// key, SM2PKE with SM2. It returns ErrUnsupportedKeySpec for another key
// spec, ErrWrapPKCS1v15 for RSAES_PKCS1_V1_5, ErrUnsupportedAlgorithm for a
// mismatch or an unknown algorithm and, in FIPS 140-only mode,
// ErrNotFIPSApproved for the SHA-1 algorithms and SM2, which the Go
// Cryptographic Module refuses.
func CheckWrapping(wrappingKeySpec, alg string) error {
	isRSA := rsaBits(wrappingKeySpec) != 0
	if !isRSA && wrappingKeySpec != "SM2" {
		return ErrUnsupportedKeySpec
	}
	if alg == wrapPKCS1v15 {
		return ErrWrapPKCS1v15
	}
	oaep, _, rsaAlg := wrapOAEP(alg)
	switch {
	case rsaAlg && !isRSA, alg == WrapSM2PKE && isRSA, !rsaAlg && alg != WrapSM2PKE:
		return ErrUnsupportedAlgorithm
	}
	if fips140.Enforced() && (oaep == WrapOAEPSHA1 || wrappingKeySpec == "SM2") {
		return ErrNotFIPSApproved
	}
	return nil
}

// GenerateWrappingKey returns a fresh wrapping key pair of
// wrappingKeySpec. Its PublicKeyDER is what GetParametersForImport returns;
// MarshalPrivate and ParsePrivate carry it to the ImportKeyMaterial call.
func GenerateWrappingKey(wrappingKeySpec string) (*AsymmetricKey, error) {
	if rsaBits(wrappingKeySpec) == 0 && wrappingKeySpec != "SM2" {
		return nil, ErrUnsupportedKeySpec
	}
	return Generate(wrappingKeySpec)
}

// Unwrap recovers imported key material that a caller wrapped under the
// public half of w with alg. Every failure to unwrap (wrong length, wrong
// padding, a KWP integrity failure, material wrapped under another key or
// with another algorithm) is ErrInvalidCiphertext, so the answer is no
// padding oracle; in FIPS 140-only mode the SHA-1 algorithms and SM2 give
// ErrNotFIPSApproved. The caller wipes the result.
func Unwrap(w *AsymmetricKey, alg string, wrapped []byte) (secret.Bytes, error) {
	if err := CheckWrapping(w.spec, alg); err != nil {
		return nil, err
	}
	if alg == WrapSM2PKE {
		pt, err := w.Decrypt(alg, wrapped)
		if err != nil {
			return nil, ErrInvalidCiphertext
		}
		return secret.Bytes(pt), nil
	}
	oaep, aesKWP, _ := wrapOAEP(alg)
	if !aesKWP {
		pt, err := w.Decrypt(oaep, wrapped)
		if err != nil {
			return nil, unwrapErr(err)
		}
		return secret.Bytes(pt), nil
	}
	k := rsaBits(w.spec) / 8
	if len(wrapped) <= k {
		return nil, ErrInvalidCiphertext
	}
	kek, err := w.Decrypt(oaep, wrapped[:k])
	if err != nil {
		return nil, unwrapErr(err)
	}
	defer clear(kek)
	if len(kek) != kwpKeySize {
		return nil, ErrInvalidCiphertext
	}
	return kwpUnwrap(kek, wrapped[k:])
}

// kwpUnwrap reverses AES Key Wrap with Padding (RFC 5649) under kek, an
// AES-128 or AES-256 key. Any failure is ErrInvalidCiphertext.
func kwpUnwrap(kek, wrapped []byte) (secret.Bytes, error) {
	c, err := kwp.NewKWP(kek)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	pt, err := c.Unwrap(wrapped)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return secret.Bytes(pt), nil
}

func unwrapErr(err error) error {
	if errors.Is(err, ErrNotFIPSApproved) {
		return err
	}
	return ErrInvalidCiphertext
}

// Wrap is the caller's side of Unwrap: it wraps material under a wrapping
// public key (SubjectPublicKeyInfo DER, as GetParametersForImport returns
// it) with alg. kmsd itself never wraps; tools and tests do.
func Wrap(publicKeyDER []byte, alg string, material []byte) ([]byte, error) {
	if alg == WrapSM2PKE {
		pub, err := parseSM2PKIX(publicKeyDER)
		if err != nil {
			return nil, err
		}
		return sm2Encrypt(pub, material)
	}
	oaep, aesKWP, ok := wrapOAEP(alg)
	if !ok {
		return nil, ErrUnsupportedAlgorithm
	}
	parsed, err := x509.ParsePKIXPublicKey(publicKeyDER)
	if err != nil {
		return nil, ErrInvalidPublicKey
	}
	pub, ok := parsed.(*rsa.PublicKey)
	if !ok {
		return nil, ErrInvalidPublicKey
	}
	h, _ := oaepHash(oaep)
	if !aesKWP {
		return rsa.EncryptOAEP(h.New(), rand.Reader, pub, material, nil)
	}
	kek := make([]byte, kwpKeySize)
	_, _ = rand.Read(kek) // crypto/rand.Read never fails
	defer clear(kek)
	head, err := rsa.EncryptOAEP(h.New(), rand.Reader, pub, kek, nil)
	if err != nil {
		return nil, err
	}
	c, err := kwp.NewKWP(kek)
	if err != nil {
		return nil, err
	}
	tail, err := c.Wrap(material)
	if err != nil {
		return nil, err
	}
	return append(head, tail...), nil
}

// CheckImportedMaterial checks unwrapped material against the key spec it
// is imported into and returns the form kmsd keeps: 32 bytes for
// SYMMETRIC_DEFAULT; for an HMAC spec between the generated size and the
// hash block size (HMAC_224 and HMAC_256: 28 or 32 to 64 bytes, HMAC_384:
// 48 to 128, HMAC_512: 64 to 128); for RSA, ECC, secp256k1, Ed25519 and
// SM2 keys a DER PKCS#8 private key of that spec, kept in the canonical
// encoding of MarshalPrivate so that one key has one form. Anything else
// is ErrInvalidPrivateKey (ErrNotFIPSApproved for a spec or key the module
// refuses in FIPS 140-only mode). ML-DSA and ML-KEM material, which kmsd
// keeps as seeds rather than PKCS#8, cannot be imported:
// ErrUnsupportedKeySpec.
func CheckImportedMaterial(keySpec string, material secret.Bytes) (secret.Bytes, error) {
	switch {
	case keySpec == "SYMMETRIC_DEFAULT":
		if len(material) != SymmetricKeySize {
			return nil, ErrInvalidPrivateKey
		}
		return material.Clone(), nil
	case isHMACKeySpec(keySpec):
		if err := CheckHMACKey(keySpec, material); err != nil {
			return nil, err
		}
		return material.Clone(), nil
	case mldsaParams(keySpec) != nil, keySpec == "ML_KEM_512", keySpec == "ML_KEM_768", keySpec == "ML_KEM_1024":
		return nil, ErrUnsupportedKeySpec
	}
	k, err := ParsePrivate(keySpec, material)
	if err != nil {
		return nil, err
	}
	return k.MarshalPrivate()
}

func isHMACKeySpec(keySpec string) bool {
	_, ok := lookupHMAC(keySpec)
	return ok
}

// ImportedMaterialID is the KeyMaterialId of material imported into the
// key keyID: HMAC-SHA256 keyed with the material over the key id. As AWS
// does, the same material imported into the same key always gets the same
// id, and other material or another key a different one; the id reveals
// nothing about the material to anyone who does not hold it. Pass the form
// CheckImportedMaterial returns.
func ImportedMaterialID(keyID string, material secret.Bytes) MaterialID {
	m := hmac.New(sha256.New, material)
	m.Write([]byte("kmsd/imported-material/v1|"))
	m.Write([]byte(keyID))
	var id MaterialID
	m.Sum(id[:0])
	return id
}
