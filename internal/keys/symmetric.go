package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"

	"github.com/kmsd/kmsd/internal/secret"
)

// SymmetricKeySize is the size of SYMMETRIC_DEFAULT key material (AES-256).
const SymmetricKeySize = 32

var errMaterialSize = errors.New("keys: symmetric key material must be 32 bytes")

// GenerateSymmetric returns fresh SYMMETRIC_DEFAULT key material.
func GenerateSymmetric() secret.Bytes {
	k := make(secret.Bytes, SymmetricKeySize)
	_, _ = rand.Read(k) // crypto/rand.Read never fails
	return k
}

// messageAEAD derives the per-message key K = HKDF-SHA256(material, salt,
// "kmsd/blob/v1") and returns AES-256-GCM under it. A fresh K per message
// means the 2^32 random-nonce limit of one GCM key never applies to the
// material. The nonce is generated inside the AEAD because that is the only
// GCM form Go allows in FIPS 140-only mode.
func messageAEAD(material secret.Bytes, salt []byte) (cipher.AEAD, error) {
	if len(material) != SymmetricKeySize {
		return nil, errMaterialSize
	}
	k, err := hkdf.Key(sha256.New, material, salt, blobInfo, SymmetricKeySize)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(b)
}
