package keys

import (
	"bytes"
	"path/filepath"
	"testing"
)

// FuzzParsePrivate feeds arbitrary bytes to ParsePrivate for every
// implemented asymmetric spec: it must never panic, must fail only with
// ErrInvalidPrivateKey, and what it accepts must be canonical after one
// round trip: the public key comes from the private half (an EC key's
// embedded public point is not trusted), and marshaling again is stable.
func FuzzParsePrivate(f *testing.F) {
	for _, file := range []string{"rsa_2048.pem", "ecc_p384.pem", "ed25519.pem"} {
		f.Add(readPEM(f, filepath.Join("testdata", "asymmetric", file)))
	}
	f.Add(make([]byte, 64))
	f.Add([]byte{0x30, 0x00})
	specs := []string{
		"RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
		"ECC_NIST_EDWARDS25519", "ML_KEM_768", "ML_KEM_1024",
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		for _, spec := range specs {
			k, err := ParsePrivate(spec, der)
			if err != nil {
				if err != ErrInvalidPrivateKey {
					t.Fatalf("%s: unexpected error %v", spec, err)
				}
				continue
			}
			out, err := k.MarshalPrivate()
			if err != nil {
				t.Fatalf("%s: MarshalPrivate of a parsed key: %v", spec, err)
			}
			k2, err := ParsePrivate(spec, out)
			if err != nil {
				t.Fatalf("%s: ParsePrivate of a marshaled key: %v", spec, err)
			}
			out2, err := k2.MarshalPrivate()
			if err != nil || !bytes.Equal(out, out2) || !bytes.Equal(k.PublicKeyDER(), k2.PublicKeyDER()) {
				t.Fatalf("%s: the key changed in a second round trip", spec)
			}
		}
	})
}

// FuzzDeriveSharedSecret feeds arbitrary peer keys to ECDH: no panic, and
// only ErrInvalidPublicKey for what is refused.
func FuzzDeriveSharedSecret(f *testing.F) {
	k, err := Generate("ECC_NIST_P256")
	if err != nil {
		f.Fatal(err)
	}
	peer, err := Generate("ECC_NIST_P256")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(peer.PublicKeyDER())
	f.Add(offCurve(peer.PublicKeyDER()))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, spki []byte) {
		s, err := k.DeriveSharedSecret(spki)
		if err != nil {
			if err != ErrInvalidPublicKey {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(s) != 32 {
			t.Fatalf("shared secret is %d bytes", len(s))
		}
	})
}
