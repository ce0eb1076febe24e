package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"
	"testing"

	"github.com/kmsd/kmsd/internal/secret"
)

func TestHMAC(t *testing.T) {
	for _, tc := range []struct {
		spec, alg string
		size      int
		h         func() hash.Hash
	}{
		{"HMAC_224", "HMAC_SHA_224", 28, sha256.New224},
		{"HMAC_256", "HMAC_SHA_256", 32, sha256.New},
		{"HMAC_384", "HMAC_SHA_384", 48, sha512.New384},
		{"HMAC_512", "HMAC_SHA_512", 64, sha512.New},
	} {
		key, err := GenerateHMAC(tc.spec)
		if err != nil || len(key) != tc.size {
			t.Fatalf("%s: GenerateHMAC = %d bytes, %v", tc.spec, len(key), err)
		}
		msg := []byte("message to authenticate")
		mac, err := MAC(tc.spec, tc.alg, key, msg)
		if err != nil {
			t.Fatalf("%s: MAC: %v", tc.spec, err)
		}
		ref := hmac.New(tc.h, key)
		ref.Write(msg)
		if !hmac.Equal(mac, ref.Sum(nil)) {
			t.Errorf("%s: MAC differs from crypto/hmac", tc.spec)
		}
		if err := VerifyMAC(tc.spec, tc.alg, key, msg, mac); err != nil {
			t.Errorf("%s: VerifyMAC: %v", tc.spec, err)
		}
		for i := range len(mac) * 8 {
			bad := append([]byte(nil), mac...)
			bad[i/8] ^= 1 << (i % 8)
			if err := VerifyMAC(tc.spec, tc.alg, key, msg, bad); !errors.Is(err, ErrInvalidMAC) {
				t.Fatalf("%s: VerifyMAC with bit %d flipped = %v, want ErrInvalidMAC", tc.spec, i, err)
			}
		}
		for name, bad := range map[string][]byte{"truncated": mac[:len(mac)-1], "empty": nil, "longer": append(append([]byte(nil), mac...), 0)} {
			if err := VerifyMAC(tc.spec, tc.alg, key, msg, bad); !errors.Is(err, ErrInvalidMAC) {
				t.Errorf("%s: VerifyMAC of a %s MAC = %v, want ErrInvalidMAC", tc.spec, name, err)
			}
		}
		if err := VerifyMAC(tc.spec, tc.alg, key, append(msg, 'x'), mac); !errors.Is(err, ErrInvalidMAC) {
			t.Errorf("%s: VerifyMAC of another message = %v", tc.spec, err)
		}
		if err := CheckHMACKey(tc.spec, key[:len(key)-1]); !errors.Is(err, ErrInvalidPrivateKey) {
			t.Errorf("%s: a short key is accepted: %v", tc.spec, err)
		}
		if _, err := MAC(tc.spec, tc.alg, key[:len(key)-1], msg); !errors.Is(err, ErrInvalidPrivateKey) {
			t.Errorf("%s: MAC with a short key = %v", tc.spec, err)
		}
	}
}

func TestHMACAlgorithmMustMatchSpec(t *testing.T) {
	key := make(secret.Bytes, 64)
	for _, tc := range []struct{ spec, alg string }{
		{"HMAC_256", "HMAC_SHA_224"},
		{"HMAC_256", "HMAC_SHA_384"},
		{"HMAC_224", "HMAC_SHA_256"},
		{"HMAC_512", "HMAC_SHA_384"},
		{"HMAC_384", "HMAC_SHA_512"},
		{"HMAC_256", "hmac_sha_256"},
		{"HMAC_256", ""},
	} {
		if _, err := MAC(tc.spec, tc.alg, key, nil); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Errorf("MAC(%s, %s) = %v, want ErrUnsupportedAlgorithm", tc.spec, tc.alg, err)
		}
		if err := VerifyMAC(tc.spec, tc.alg, key, nil, nil); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Errorf("VerifyMAC(%s, %s) = %v, want ErrUnsupportedAlgorithm", tc.spec, tc.alg, err)
		}
	}
	for _, spec := range []string{"HMAC_128", "RSA_2048", ""} {
		if _, err := GenerateHMAC(spec); !errors.Is(err, ErrUnsupportedKeySpec) {
			t.Errorf("GenerateHMAC(%q) = %v", spec, err)
		}
		if _, err := MAC(spec, "HMAC_SHA_256", key, nil); !errors.Is(err, ErrUnsupportedKeySpec) {
			t.Errorf("MAC(%q) = %v", spec, err)
		}
	}
}

func TestHMACImportedKeyLengths(t *testing.T) {
	for _, tc := range []struct {
		spec     string
		min, max int
	}{
		{"HMAC_224", 28, 64}, {"HMAC_256", 32, 64}, {"HMAC_384", 48, 128}, {"HMAC_512", 64, 128},
	} {
		for _, n := range []int{tc.min, tc.max} {
			if err := CheckHMACKey(tc.spec, make(secret.Bytes, n)); err != nil {
				t.Errorf("%s: %d-byte key refused: %v", tc.spec, n, err)
			}
		}
		for _, n := range []int{0, tc.min - 1, tc.max + 1} {
			if err := CheckHMACKey(tc.spec, make(secret.Bytes, n)); !errors.Is(err, ErrInvalidPrivateKey) {
				t.Errorf("%s: %d-byte key accepted: %v", tc.spec, n, err)
			}
		}
	}
}
