package keys

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	_ "crypto/sha256" // register SHA-224 and SHA-256
	_ "crypto/sha512" // register SHA-384 and SHA-512

	"github.com/kmsd/kmsd/internal/secret"
)

// hmacSpec describes an HMAC key spec: its only MacAlgorithm, the hash,
// the size of generated keys, and the largest key ImportKeyMaterial takes
// (the hash block size).
type hmacSpec struct {
	alg          string
	hash         crypto.Hash
	size, maxLen int
}

func lookupHMAC(keySpec string) (hmacSpec, bool) {
	switch keySpec {
	case "HMAC_224":
		return hmacSpec{"HMAC_SHA_224", crypto.SHA224, 28, 64}, true
	case "HMAC_256":
		return hmacSpec{"HMAC_SHA_256", crypto.SHA256, 32, 64}, true
	case "HMAC_384":
		return hmacSpec{"HMAC_SHA_384", crypto.SHA384, 48, 128}, true
	case "HMAC_512":
		return hmacSpec{"HMAC_SHA_512", crypto.SHA512, 64, 128}, true
	}
	return hmacSpec{}, false
}

// GenerateHMAC returns fresh key material for an HMAC key spec: 28, 32,
// 48 or 64 random bytes for HMAC_224, HMAC_256, HMAC_384 and HMAC_512.
func GenerateHMAC(keySpec string) (secret.Bytes, error) {
	s, ok := lookupHMAC(keySpec)
	if !ok {
		return nil, ErrUnsupportedKeySpec
	}
	k := make(secret.Bytes, s.size)
	_, _ = rand.Read(k) // crypto/rand.Read never fails
	return k, nil
}

// CheckHMACKey checks that key is usable material for keySpec: at least
// the generated size and at most the hash block size (the range AWS
// accepts for imported HMAC material). It returns ErrInvalidPrivateKey.
func CheckHMACKey(keySpec string, key secret.Bytes) error {
	s, ok := lookupHMAC(keySpec)
	if !ok {
		return ErrUnsupportedKeySpec
	}
	if len(key) < s.size || len(key) > s.maxLen {
		return ErrInvalidPrivateKey
	}
	return nil
}

func hmacFor(keySpec, alg string, key secret.Bytes) (hmacSpec, error) {
	s, ok := lookupHMAC(keySpec)
	if !ok {
		return hmacSpec{}, ErrUnsupportedKeySpec
	}
	if alg != s.alg {
		return hmacSpec{}, ErrUnsupportedAlgorithm
	}
	if err := CheckHMACKey(keySpec, key); err != nil {
		return hmacSpec{}, err
	}
	return s, nil
}

// MAC computes the HMAC of msg with key. alg must be the MacAlgorithm of
// keySpec (HMAC_256 takes only HMAC_SHA_256, and so on).
func MAC(keySpec, alg string, key secret.Bytes, msg []byte) ([]byte, error) {
	s, err := hmacFor(keySpec, alg, key)
	if err != nil {
		return nil, err
	}
	m := hmac.New(s.hash.New, key)
	m.Write(msg)
	return m.Sum(nil), nil
}

// VerifyMAC recomputes the HMAC and compares it with mac in constant time.
// It returns nil for a match and ErrInvalidMAC otherwise.
func VerifyMAC(keySpec, alg string, key secret.Bytes, msg, mac []byte) error {
	want, err := MAC(keySpec, alg, key, msg)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, mac) {
		return ErrInvalidMAC
	}
	return nil
}
