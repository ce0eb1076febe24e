package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
)

type signCase struct {
	spec, alg string
}

func signCases() []signCase {
	var cs []signCase
	for _, alg := range []string{
		"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
		"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
	} {
		cs = append(cs, signCase{"RSA_2048", alg})
	}
	return append(cs,
		signCase{"RSA_3072", "RSASSA_PSS_SHA_384"},
		signCase{"RSA_3072", "RSASSA_PKCS1_V1_5_SHA_256"},
		signCase{"RSA_4096", "RSASSA_PSS_SHA_512"},
		signCase{"RSA_4096", "RSASSA_PKCS1_V1_5_SHA_512"},
		signCase{"ECC_NIST_P256", "ECDSA_SHA_256"},
		signCase{"ECC_NIST_P384", "ECDSA_SHA_384"},
		signCase{"ECC_NIST_P521", "ECDSA_SHA_512"},
		signCase{"ECC_NIST_EDWARDS25519", "ED25519_SHA_512"},
		signCase{"ECC_NIST_EDWARDS25519", "ED25519_PH_SHA_512"},
	)
}

// algHash is the test's own view of which hash an algorithm uses.
func algHash(alg string) crypto.Hash {
	switch {
	case strings.HasSuffix(alg, "_256"):
		return crypto.SHA256
	case strings.HasSuffix(alg, "_384"):
		return crypto.SHA384
	}
	return crypto.SHA512
}

func digest(h crypto.Hash, msg []byte) []byte {
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

// stdVerify verifies sig with the standard library, knowing only the SPKI.
func stdVerify(t *testing.T, spki []byte, alg string, msg, sig []byte) bool {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		t.Fatalf("ParsePKIXPublicKey: %v", err)
	}
	h := algHash(alg)
	switch {
	case strings.HasPrefix(alg, "RSASSA_PSS"):
		return rsa.VerifyPSS(pub.(*rsa.PublicKey), h, digest(h, msg), sig, &rsa.PSSOptions{SaltLength: h.Size()}) == nil
	case strings.HasPrefix(alg, "RSASSA_PKCS1"):
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), h, digest(h, msg), sig) == nil
	case strings.HasPrefix(alg, "ECDSA"):
		return ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest(h, msg), sig)
	case alg == "ED25519_SHA_512":
		return ed25519.Verify(pub.(ed25519.PublicKey), msg, sig)
	case alg == "ED25519_PH_SHA_512":
		// The caller sends D = SHA-512(msg) as a DIGEST and AWS prehashes
		// it once more: the signature is Ed25519ph over the message D.
		d := sha512.Sum512(msg)
		ph := sha512.Sum512(d[:])
		return ed25519.VerifyWithOptions(pub.(ed25519.PublicKey), ph[:], sig, &ed25519.Options{Hash: crypto.SHA512}) == nil
	}
	t.Fatalf("no verifier for %s", alg)
	return false
}

// opensslVerify verifies sig over msg with the openssl binary, writing the
// SPKI as PEM. It returns openssl's error for a rejected signature.
func opensslVerify(t *testing.T, spki []byte, alg string, msg, sig []byte) error {
	t.Helper()
	dir := t.TempDir()
	pub := writePEM(t, dir, "pub.pem", "PUBLIC KEY", spki)
	m := writeFile(t, dir, "msg.bin", msg)
	s := writeFile(t, dir, "sig.bin", sig)
	md := fmt.Sprintf("-sha%d", algHash(alg).Size()*8)
	var args []string
	switch {
	case strings.HasPrefix(alg, "RSASSA_PSS"):
		args = []string{"dgst", md, "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest",
			"-verify", pub, "-signature", s, m}
	case strings.HasPrefix(alg, "RSASSA_PKCS1"), strings.HasPrefix(alg, "ECDSA"):
		args = []string{"dgst", md, "-verify", pub, "-signature", s, m}
	case alg == "ED25519_SHA_512":
		args = []string{"pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", m, "-sigfile", s}
	default:
		t.Fatalf("no openssl verifier for %s", alg)
	}
	_, err := opensslErr(t, args...)
	return err
}

func TestSignInterop(t *testing.T) {
	keys := keyCache{}
	for _, tc := range signCases() {
		k := keys.get(t, tc.spec)
		spki := k.PublicKeyDER()
		h := algHash(tc.alg)
		msg := []byte("kmsd interop message for " + tc.alg + " with " + tc.spec)
		for _, mt := range []string{MessageRaw, MessageDigest} {
			name := tc.spec + "/" + tc.alg + "/" + mt
			in := msg
			if mt == MessageDigest {
				in = digest(h, msg)
			}
			sig, err := k.Sign(tc.alg, mt, in)
			if tc.alg == "ED25519_SHA_512" && mt == MessageDigest || tc.alg == "ED25519_PH_SHA_512" && mt == MessageRaw {
				if !errors.Is(err, ErrMessageType) {
					t.Errorf("%s: Sign err = %v, want ErrMessageType", name, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: Sign: %v", name, err)
			}
			if err := k.Verify(tc.alg, mt, in, sig); err != nil {
				t.Errorf("%s: Verify: %v", name, err)
			}
			if !stdVerify(t, spki, tc.alg, msg, sig) {
				t.Errorf("%s: the standard library rejects the signature", name)
			}
			if tc.alg != "ED25519_PH_SHA_512" { // OpenSSL 3.0 has no Ed25519ph
				if err := opensslVerify(t, spki, tc.alg, msg, sig); err != nil {
					t.Errorf("%s: openssl rejects the signature: %v", name, err)
				}
			}
			if strings.HasPrefix(tc.alg, "ED25519") && len(sig) != ed25519.SignatureSize {
				t.Errorf("%s: signature is %d bytes", name, len(sig))
			}

			bad := append([]byte(nil), sig...)
			bad[len(bad)/2] ^= 0x01
			if err := k.Verify(tc.alg, mt, in, bad); !errors.Is(err, ErrInvalidSignature) {
				t.Errorf("%s: Verify of a flipped bit = %v, want ErrInvalidSignature", name, err)
			}
			if err := k.Verify(tc.alg, mt, in, nil); !errors.Is(err, ErrInvalidSignature) {
				t.Errorf("%s: Verify of an empty signature = %v, want ErrInvalidSignature", name, err)
			}
			if mt == MessageRaw && tc.alg != "ED25519_PH_SHA_512" {
				if err := opensslVerify(t, spki, tc.alg, msg, bad); err == nil {
					t.Errorf("%s: openssl accepts a flipped bit", name)
				}
			}
		}
	}
}

// TestVerifyOpenSSLSignatures verifies signatures OpenSSL made with the
// testdata keys, so Verify is checked against another signer.
func TestVerifyOpenSSLSignatures(t *testing.T) {
	msg := []byte("signed by openssl")
	for _, tc := range []struct {
		spec, file, alg string
		args            []string
	}{
		{"RSA_2048", "rsa_2048.pem", "RSASSA_PKCS1_V1_5_SHA_256", []string{"dgst", "-sha256"}},
		{"RSA_2048", "rsa_2048.pem", "RSASSA_PSS_SHA_384", []string{"dgst", "-sha384", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"}},
		{"ECC_NIST_P384", "ecc_p384.pem", "ECDSA_SHA_384", []string{"dgst", "-sha384"}},
		{"ECC_NIST_EDWARDS25519", "ed25519.pem", "ED25519_SHA_512", []string{"pkeyutl", "-rawin"}},
	} {
		path := "testdata/asymmetric/" + tc.file
		k, err := ParsePrivate(tc.spec, readPEM(t, path))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		m := writeFile(t, dir, "msg.bin", msg)
		args := append(tc.args, "-sign", path, m)
		if tc.args[0] == "pkeyutl" {
			args = append(tc.args, "-sign", "-inkey", path, "-in", m)
		}
		sig := openssl(t, args...)
		if err := k.Verify(tc.alg, MessageRaw, msg, sig); err != nil {
			t.Errorf("%s: Verify of an openssl signature: %v", tc.alg, err)
		}
	}
}

func TestSignDigestLength(t *testing.T) {
	keys := keyCache{}
	for _, tc := range signCases() {
		if tc.alg == "ED25519_SHA_512" || tc.spec != "RSA_2048" && strings.HasPrefix(tc.spec, "RSA") {
			continue
		}
		k := keys.get(t, tc.spec)
		size := algHash(tc.alg).Size()
		for _, n := range []int{0, 1, size - 1, size + 1, 2 * size} {
			d := make([]byte, n)
			if _, err := k.Sign(tc.alg, MessageDigest, d); !errors.Is(err, ErrDigestLength) {
				t.Errorf("%s %s: Sign of a %d-byte digest = %v, want ErrDigestLength", tc.spec, tc.alg, n, err)
			}
			if err := k.Verify(tc.alg, MessageDigest, d, make([]byte, 64)); !errors.Is(err, ErrDigestLength) {
				t.Errorf("%s %s: Verify of a %d-byte digest = %v, want ErrDigestLength", tc.spec, tc.alg, n, err)
			}
		}
	}
}

func TestEd25519MessageTypes(t *testing.T) {
	k := testKey(t, "ECC_NIST_EDWARDS25519")
	msg := []byte("message")
	d := sha512.Sum512(msg)
	for _, tc := range []struct {
		alg, mt string
		in      []byte
		want    error
	}{
		{"ED25519_SHA_512", MessageRaw, msg, nil},
		{"ED25519_SHA_512", MessageRaw, d[:], nil}, // a RAW message may be any bytes
		{"ED25519_SHA_512", MessageDigest, d[:], ErrMessageType},
		{"ED25519_PH_SHA_512", MessageDigest, d[:], nil},
		{"ED25519_PH_SHA_512", MessageRaw, msg, ErrMessageType},
		{"ED25519_PH_SHA_512", MessageRaw, d[:], ErrMessageType},
		{"ED25519_PH_SHA_512", MessageDigest, d[:32], ErrDigestLength},
		{"ED25519_SHA_512", "EXTERNAL_MU", d[:], ErrMessageType},
		{"ED25519_PH_SHA_512", "digest", d[:], ErrMessageType},
	} {
		_, err := k.Sign(tc.alg, tc.mt, tc.in)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Sign(%s, %s, %d bytes) = %v, want %v", tc.alg, tc.mt, len(tc.in), err, tc.want)
		}
	}
	// A PH signature is not a pure Ed25519 signature of the digest, and
	// the reverse.
	ph, err := k.Sign("ED25519_PH_SHA_512", MessageDigest, d[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Verify("ED25519_SHA_512", MessageRaw, d[:], ph); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("Ed25519ph signature verifies as pure Ed25519: %v", err)
	}
	pure, err := k.Sign("ED25519_SHA_512", MessageRaw, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Verify("ED25519_PH_SHA_512", MessageDigest, d[:], pure); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("pure Ed25519 signature verifies as Ed25519ph: %v", err)
	}
}

func TestSigningAlgorithmMustMatchKey(t *testing.T) {
	keys := keyCache{}
	d32 := sha256.Sum256([]byte("x"))
	for _, tc := range []struct{ spec, alg string }{
		{"ECC_NIST_P256", "ECDSA_SHA_384"},
		{"ECC_NIST_P256", "ECDSA_SHA_512"},
		{"ECC_NIST_P384", "ECDSA_SHA_256"},
		{"ECC_NIST_P384", "ECDSA_SHA_512"},
		{"ECC_NIST_P521", "ECDSA_SHA_256"},
		{"ECC_NIST_P521", "ECDSA_SHA_384"},
		{"ECC_NIST_P256", "RSASSA_PSS_SHA_256"},
		{"ECC_NIST_P256", "ED25519_SHA_512"},
		{"RSA_2048", "ECDSA_SHA_256"},
		{"RSA_2048", "ED25519_SHA_512"},
		{"RSA_2048", "RSAES_OAEP_SHA_256"},
		{"RSA_2048", "RSASSA_PSS_SHA_1"},
		{"ECC_NIST_EDWARDS25519", "ECDSA_SHA_512"},
		{"ECC_NIST_EDWARDS25519", "RSASSA_PKCS1_V1_5_SHA_512"},
		{"ML_KEM_768", "ECDSA_SHA_256"},
		{"ML_KEM_768", "ML_DSA_SHAKE_256"},
		{"ECC_NIST_P256", "SM2DSA"},
		{"ECC_NIST_P256", ""},
	} {
		k := keys.get(t, tc.spec)
		if _, err := k.Sign(tc.alg, MessageRaw, []byte("m")); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Errorf("%s with %s: Sign = %v, want ErrUnsupportedAlgorithm", tc.spec, tc.alg, err)
		}
		if err := k.Verify(tc.alg, MessageDigest, d32[:], []byte("sig")); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Errorf("%s with %s: Verify = %v, want ErrUnsupportedAlgorithm", tc.spec, tc.alg, err)
		}
	}
}
