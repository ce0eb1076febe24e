package keys

import (
	"crypto"
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

// MaxPlaintext returns the largest plaintext AWS accepts for an RSA key
// spec and EncryptionAlgorithm: k - 2*hLen - 2 bytes, where k is the
// modulus size (RSA_2048: 214/190, RSA_3072: 342/318, RSA_4096: 470/446
// for OAEP-SHA-1/OAEP-SHA-256). It returns 0 for any other pair.
func MaxPlaintext(keySpec, alg string) int {
	bits := rsaBits(keySpec)
	h, ok := oaepHash(alg)
	if bits == 0 || !ok {
		return 0
	}
	return bits/8 - 2*h.Size() - 2
}

// Encrypt encrypts plaintext with RSAES-OAEP under the key's public key:
// MGF1 with the same hash as OAEP and an empty label, as AWS does. A
// plaintext longer than MaxPlaintext gives ErrPlaintextTooLarge.
func (k *AsymmetricKey) Encrypt(alg string, plaintext []byte) ([]byte, error) {
	if k.rsa == nil {
		return nil, ErrUnsupportedOperation
	}
	h, ok := oaepHash(alg)
	if !ok {
		return nil, ErrUnsupportedAlgorithm
	}
	if len(plaintext) > MaxPlaintext(k.spec, alg) {
		return nil, ErrPlaintextTooLarge
	}
	return rsa.EncryptOAEP(h.New(), rand.Reader, &k.rsa.PublicKey, plaintext, nil)
}

// Decrypt reverses Encrypt. Every failure to decrypt (wrong length, wrong
// padding, wrong algorithm for the ciphertext) is ErrInvalidCiphertext, so
// the answer is no padding oracle.
func (k *AsymmetricKey) Decrypt(alg string, ciphertext []byte) ([]byte, error) {
	if k.rsa == nil {
		return nil, ErrUnsupportedOperation
	}
	h, ok := oaepHash(alg)
	if !ok {
		return nil, ErrUnsupportedAlgorithm
	}
	pt, err := k.rsa.Decrypt(nil, ciphertext, &rsa.OAEPOptions{Hash: h, MGFHash: h})
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return pt, nil
}
