package keys

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/secret"
)

// TestErrorsCarryNoKeyMaterial drives every failure path with real keys
// and checks that each error is a bare sentinel whose text holds no byte of
// the private key.
func TestErrorsCarryNoKeyMaterial(t *testing.T) {
	sentinels := []error{
		ErrUnsupportedKeySpec, ErrUnsupportedAlgorithm, ErrUnsupportedOperation, ErrMessageType,
		ErrDigestLength, ErrInvalidSignature, ErrInvalidMAC, ErrPlaintextTooLarge,
		ErrInvalidPrivateKey, ErrInvalidPublicKey, ErrInvalidCiphertext,
	}
	keys := keyCache{}
	var errs []error
	var material []secret.Bytes
	record := func(err error) {
		if err == nil {
			t.Fatal("a failure path returned nil")
		}
		errs = append(errs, err)
	}
	for _, spec := range []string{"RSA_2048", "ECC_NIST_P256", "ECC_NIST_EDWARDS25519", "ML_KEM_768"} {
		k := keys.get(t, spec)
		priv, err := k.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		material = append(material, priv)
		_, err = k.Sign("NOPE", MessageRaw, nil)
		record(err)
		_, err = k.Sign("ECDSA_SHA_384", MessageRaw, nil)
		record(err)
		record(k.Verify("ED25519_SHA_512", MessageDigest, nil, nil))
		_, err = k.Encrypt("RSAES_OAEP_SHA_256", make([]byte, 4096))
		record(err)
		_, err = k.Decrypt("RSAES_OAEP_SHA_256", priv)
		record(err)
		_, err = k.DeriveSharedSecret(priv)
		record(err)
		_, err = k.Decapsulate(priv)
		record(err)
		_, err = ParsePrivate(spec, priv[:len(priv)-1])
		record(err)
		_, err = ParsePrivate("ECC_NIST_P384", priv)
		record(err)
	}
	rsa := keys.get(t, "RSA_2048")
	record(rsa.Verify("RSASSA_PSS_SHA_256", MessageRaw, []byte("m"), make([]byte, 256)))
	record(rsa.Verify("RSASSA_PSS_SHA_256", MessageDigest, []byte("m"), nil))
	hk, err := GenerateHMAC("HMAC_256")
	if err != nil {
		t.Fatal(err)
	}
	material = append(material, hk)
	record(VerifyMAC("HMAC_256", "HMAC_SHA_256", hk, nil, hk))
	_, err = MAC("HMAC_256", "HMAC_SHA_256", hk[:5], nil)
	record(err)
	record(CheckHMACKey("HMAC_512", hk))

	for _, err := range errs {
		known := false
		for _, s := range sentinels {
			known = known || err == s
		}
		if !known {
			t.Errorf("error %q is not a bare sentinel", err)
		}
		msg := err.Error()
		for _, m := range material {
			for i := 0; i+8 <= len(m); i += 8 {
				w := m[i : i+8]
				if strings.Contains(msg, string(w)) || strings.Contains(msg, hex.EncodeToString(w)) ||
					strings.Contains(msg, base64.StdEncoding.EncodeToString(w)[:8]) {
					t.Fatalf("error %q contains key material", msg)
				}
			}
		}
	}
}
