package keys

import (
	"crypto"
	"crypto/fips140"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // register SHA-1 for RSAES_OAEP_SHA_1
	_ "crypto/sha256"
)

func oaepHash(alg string) (crypto.Hash, bool) {
	switch alg {
	case "RSAES_OAEP_SHA_1":
		return crypto.SHA1, true
	case "RSAES_OAEP_SHA_256":
		return crypto.SHA256, true
	}
	return 0, false
}

// MaxPlaintext returns the largest plaintext AWS accepts for an asymmetric
// key spec and EncryptionAlgorithm: for RSA k - 2*hLen - 2 bytes, where k
// is the modulus size (RSA_2048: 214/190, RSA_3072: 342/318, RSA_4096:
// 470/446 for OAEP-SHA-1/OAEP-SHA-256), and 1024 bytes for SM2PKE. It
// returns 0 for any other pair.
func MaxPlaintext(keySpec, alg string) int {
	if keySpec == "SM2" && alg == "SM2PKE" {
		return sm2MaxPlaintext
	}
	bits := rsaBits(keySpec)
	h, ok := oaepHash(alg)
	if bits == 0 || !ok {
		return 0
	}
	return bits/8 - 2*h.Size() - 2
}

// Encrypt encrypts plaintext under the key's public key: RSAES-OAEP with
// MGF1 over the same hash as OAEP and an empty label, as AWS does, or
// SM2PKE. A plaintext longer than MaxPlaintext gives ErrPlaintextTooLarge.
// In FIPS 140-only mode RSAES_OAEP_SHA_1 gives ErrNotFIPSApproved.
func (k *AsymmetricKey) Encrypt(alg string, plaintext []byte) ([]byte, error) {
	if k.sm2 != nil {
		if alg != "SM2PKE" {
			return nil, ErrUnsupportedAlgorithm
		}
		return sm2Encrypt(&k.sm2.PublicKey, plaintext)
	}
	h, err := k.oaep(alg)
	if err != nil {
		return nil, err
	}
	if len(plaintext) > MaxPlaintext(k.spec, alg) {
		return nil, ErrPlaintextTooLarge
	}
	return rsa.EncryptOAEP(h.New(), rand.Reader, &k.rsa.PublicKey, plaintext, nil)
}

func (k *AsymmetricKey) oaep(alg string) (crypto.Hash, error) {
	if k.rsa == nil {
		return 0, ErrUnsupportedOperation
	}
	h, ok := oaepHash(alg)
	if !ok {
		return 0, ErrUnsupportedAlgorithm
	}
	if h == crypto.SHA1 && fips140.Enforced() {
		return 0, ErrNotFIPSApproved
	}
	return h, nil
}

// Decrypt reverses Encrypt. Every failure to decrypt (wrong length, wrong
// padding, wrong algorithm for the ciphertext) is ErrInvalidCiphertext, so
// the answer is no padding oracle.
func (k *AsymmetricKey) Decrypt(alg string, ciphertext []byte) ([]byte, error) {
	if k.sm2 != nil {
		if alg != "SM2PKE" {
			return nil, ErrUnsupportedAlgorithm
		}
		return sm2Decrypt(k.sm2, ciphertext)
	}
	h, err := k.oaep(alg)
	if err != nil {
		return nil, err
	}
	pt, err := k.rsa.Decrypt(nil, ciphertext, &rsa.OAEPOptions{Hash: h, MGFHash: h})
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return pt, nil
}
