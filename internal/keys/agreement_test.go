package keys

import (
	"bytes"
	"errors"
	"testing"
)

func TestDeriveSharedSecretMatchesOpenSSL(t *testing.T) {
	for _, tc := range []struct{ spec, curve string }{
		{"ECC_NIST_P256", "P-256"},
		{"ECC_NIST_P384", "P-384"},
		{"ECC_NIST_P521", "P-521"},
	} {
		k := testKey(t, tc.spec)
		dir := t.TempDir()
		peer := dir + "/peer.pem"
		openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:"+tc.curve, "-out", peer)
		peerDER := openssl(t, "pkey", "-in", peer, "-pubout", "-outform", "DER")
		kmsPub := writePEM(t, dir, "kmspub.pem", "PUBLIC KEY", k.PublicKeyDER())

		got, err := k.DeriveSharedSecret(peerDER)
		if err != nil {
			t.Fatalf("%s: DeriveSharedSecret: %v", tc.spec, err)
		}
		want := openssl(t, "pkeyutl", "-derive", "-inkey", peer, "-peerkey", kmsPub)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: shared secret differs from openssl's", tc.spec)
		}
	}
}

func TestDeriveSharedSecretRejectsPeers(t *testing.T) {
	keys := keyCache{}
	k := keys.get(t, "ECC_NIST_P256")
	good := keys.get(t, "ECC_NIST_P256").PublicKeyDER()
	for name, peer := range map[string][]byte{
		"P-384 peer":    keys.get(t, "ECC_NIST_P384").PublicKeyDER(),
		"P-521 peer":    keys.get(t, "ECC_NIST_P521").PublicKeyDER(),
		"Ed25519 peer":  keys.get(t, "ECC_NIST_EDWARDS25519").PublicKeyDER(),
		"RSA peer":      keys.get(t, "RSA_2048").PublicKeyDER(),
		"ML-KEM peer":   keys.get(t, "ML_KEM_768").PublicKeyDER(),
		"truncated":     good[:len(good)-1],
		"trailing byte": append(append([]byte(nil), good...), 0),
		"empty":         nil,
		"not on curve":  offCurve(good),
	} {
		if s, err := k.DeriveSharedSecret(peer); !errors.Is(err, ErrInvalidPublicKey) || s != nil {
			t.Errorf("%s: DeriveSharedSecret = %v, want ErrInvalidPublicKey", name, err)
		}
	}
	for _, spec := range []string{"RSA_2048", "ECC_NIST_EDWARDS25519", "ML_KEM_768"} {
		if _, err := keys.get(t, spec).DeriveSharedSecret(good); !errors.Is(err, ErrUnsupportedOperation) {
			t.Errorf("%s: DeriveSharedSecret = %v, want ErrUnsupportedOperation", spec, err)
		}
	}
}

// offCurve changes the last byte of the point's y-coordinate, which takes
// it off the curve.
func offCurve(spki []byte) []byte {
	b := append([]byte(nil), spki...)
	b[len(b)-1] ^= 0x01
	return b
}
