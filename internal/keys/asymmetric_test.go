package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/fips140"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/internal/secret"
)

// testKey returns a key of spec. RSA_3072 and RSA_4096 come from
// OpenSSL-made files in testdata (generating them under -race is slow);
// every other spec is generated, which also tests Generate.
func testKey(t *testing.T, spec string) *AsymmetricKey {
	t.Helper()
	var file string
	switch spec {
	case "RSA_3072":
		file = "rsa_3072.pem"
	case "RSA_4096":
		file = "rsa_4096.pem"
	default:
		k, err := Generate(spec)
		if err != nil {
			t.Fatalf("Generate(%s): %v", spec, err)
		}
		if k.KeySpec() != spec {
			t.Fatalf("KeySpec() = %s, want %s", k.KeySpec(), spec)
		}
		return k
	}
	k, err := ParsePrivate(spec, readPEM(t, filepath.Join("testdata", "asymmetric", file)))
	if err != nil {
		t.Fatalf("ParsePrivate(%s, %s): %v", spec, file, err)
	}
	return k
}

// refusedInFIPS reports whether the process runs in FIPS 140-only mode and
// spec is one this package refuses there, after checking that Generate,
// ParsePrivate and GenerateDataKeyPair refuse it with ErrNotFIPSApproved.
// Tests of such a spec check this refusal instead of the key's behaviour.
func refusedInFIPS(t *testing.T, spec string) bool {
	t.Helper()
	if !fips140.Enforced() || FIPSApproved(spec) {
		return false
	}
	if _, err := Generate(spec); !errors.Is(err, ErrNotFIPSApproved) {
		t.Errorf("Generate(%s) in FIPS 140-only mode = %v, want ErrNotFIPSApproved", spec, err)
	}
	if _, err := ParsePrivate(spec, secret.Bytes{1}); !errors.Is(err, ErrNotFIPSApproved) {
		t.Errorf("ParsePrivate(%s) in FIPS 140-only mode = %v, want ErrNotFIPSApproved", spec, err)
	}
	return true
}

// keyCache hands out one key per spec within a test.
type keyCache map[string]*AsymmetricKey

func (c keyCache) get(t *testing.T, spec string) *AsymmetricKey {
	t.Helper()
	if k, ok := c[spec]; ok {
		return k
	}
	k := testKey(t, spec)
	c[spec] = k
	return k
}

func TestGenerateKeySizes(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		check func(pub any) bool
	}{
		{"RSA_2048", func(p any) bool { k, ok := p.(*rsa.PublicKey); return ok && k.N.BitLen() == 2048 }},
		{"ECC_NIST_P256", func(p any) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve.Params().Name == "P-256" }},
		{"ECC_NIST_P384", func(p any) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve.Params().Name == "P-384" }},
		{"ECC_NIST_P521", func(p any) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve.Params().Name == "P-521" }},
		{"ECC_NIST_EDWARDS25519", func(p any) bool { _, ok := p.(ed25519.PublicKey); return ok }},
	} {
		k := testKey(t, tc.spec)
		der := k.PublicKeyDER()
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			t.Fatalf("%s: ParsePKIXPublicKey: %v", tc.spec, err)
		}
		if !tc.check(pub) {
			t.Errorf("%s: public key is %T", tc.spec, pub)
		}
		if tc.spec == "ECC_NIST_EDWARDS25519" && len(der) != 44 {
			t.Errorf("Ed25519 SPKI is %d bytes, AWS returns 44", len(der))
		}
	}
}

func TestUnsupportedKeySpecs(t *testing.T) {
	for _, spec := range []string{
		"HMAC_256", "SYMMETRIC_DEFAULT", "RSA_1024", "", "rsa_2048", "ECC_SECG_P256R1", "ML_DSA_128",
	} {
		if _, err := Generate(spec); !errors.Is(err, ErrUnsupportedKeySpec) {
			t.Errorf("Generate(%q) = %v, want ErrUnsupportedKeySpec", spec, err)
		}
		if _, err := ParsePrivate(spec, secret.Bytes{1, 2, 3}); !errors.Is(err, ErrUnsupportedKeySpec) {
			t.Errorf("ParsePrivate(%q) = %v, want ErrUnsupportedKeySpec", spec, err)
		}
		if _, _, err := GenerateDataKeyPair(spec); !errors.Is(err, ErrUnsupportedKeySpec) {
			t.Errorf("GenerateDataKeyPair(%q) = %v, want ErrUnsupportedKeySpec", spec, err)
		}
	}
	for _, spec := range []string{"ML_KEM_512", "ML_KEM_768", "ML_DSA_65"} {
		if _, _, err := GenerateDataKeyPair(spec); !errors.Is(err, ErrUnsupportedKeySpec) {
			t.Errorf("GenerateDataKeyPair(%s) = %v, want ErrUnsupportedKeySpec", spec, err)
		}
	}
}

func TestPrivateKeyRoundTrip(t *testing.T) {
	for _, spec := range []string{
		"RSA_2048", "RSA_3072", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
		"ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87",
		"ML_KEM_512", "ML_KEM_768", "ML_KEM_1024", "SM2",
	} {
		if refusedInFIPS(t, spec) {
			continue
		}
		k := testKey(t, spec)
		priv, err := k.MarshalPrivate()
		if err != nil {
			t.Fatalf("%s: MarshalPrivate: %v", spec, err)
		}
		switch {
		case strings.HasPrefix(spec, "ML_KEM"):
			if len(priv) != 64 {
				t.Errorf("%s: seed is %d bytes, want 64", spec, len(priv))
			}
		case strings.HasPrefix(spec, "ML_DSA"):
			if len(priv) != 32 {
				t.Errorf("%s: seed is %d bytes, want 32", spec, len(priv))
			}
		case spec == "ECC_SECG_P256K1" || spec == "SM2":
			// crypto/x509 knows neither curve; openssl reads both.
			p := writeFile(t, t.TempDir(), "priv.der", priv)
			got := openssl(t, "pkey", "-inform", "DER", "-in", p, "-pubout", "-outform", "DER")
			if !bytes.Equal(got, k.PublicKeyDER()) {
				t.Errorf("%s: openssl derives another public key from the PKCS#8 key", spec)
			}
		default:
			if _, err := x509.ParsePKCS8PrivateKey(priv); err != nil {
				t.Errorf("%s: not PKCS#8: %v", spec, err)
			}
		}
		k2, err := ParsePrivate(spec, priv)
		if err != nil {
			t.Fatalf("%s: ParsePrivate: %v", spec, err)
		}
		if !bytes.Equal(k.PublicKeyDER(), k2.PublicKeyDER()) {
			t.Errorf("%s: public key changed in the round trip", spec)
		}
		priv2, err := k2.MarshalPrivate()
		if err != nil || !priv.Equal(priv2) {
			t.Errorf("%s: private key changed in the round trip (%v)", spec, err)
		}
	}
}

// TestParseOpenSSLKeys reads PKCS#8 keys OpenSSL generated and checks that
// the public key matches what OpenSSL derives from the same file.
func TestParseOpenSSLKeys(t *testing.T) {
	for _, tc := range []struct{ file, spec string }{
		{"rsa_2048.pem", "RSA_2048"},
		{"rsa_3072.pem", "RSA_3072"},
		{"rsa_4096.pem", "RSA_4096"},
		{"ecc_p384.pem", "ECC_NIST_P384"},
		{"ed25519.pem", "ECC_NIST_EDWARDS25519"},
	} {
		path := filepath.Join("testdata", "asymmetric", tc.file)
		k, err := ParsePrivate(tc.spec, readPEM(t, path))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		want := openssl(t, "pkey", "-in", path, "-pubout", "-outform", "DER")
		if !bytes.Equal(k.PublicKeyDER(), want) {
			t.Errorf("%s: PublicKeyDER differs from openssl's SPKI", tc.file)
		}
	}
}

func TestParsePrivateRejectsOtherSpecs(t *testing.T) {
	rsa2048 := readPEM(t, filepath.Join("testdata", "asymmetric", "rsa_2048.pem"))
	p384 := readPEM(t, filepath.Join("testdata", "asymmetric", "ecc_p384.pem"))
	ed := readPEM(t, filepath.Join("testdata", "asymmetric", "ed25519.pem"))
	for _, tc := range []struct {
		name, spec string
		der        []byte
	}{
		{"RSA-2048 as RSA_3072", "RSA_3072", rsa2048},
		{"RSA-2048 as P-256", "ECC_NIST_P256", rsa2048},
		{"P-384 as P-256", "ECC_NIST_P256", p384},
		{"P-384 as P-521", "ECC_NIST_P521", p384},
		{"P-384 as Ed25519", "ECC_NIST_EDWARDS25519", p384},
		{"Ed25519 as RSA", "RSA_2048", ed},
		{"truncated", "RSA_2048", rsa2048[:len(rsa2048)-1]},
		{"trailing byte", "ECC_NIST_P384", append(append([]byte(nil), p384...), 0)},
		{"empty", "ECC_NIST_P256", nil},
		{"short ML-KEM seed", "ML_KEM_768", make([]byte, 63)},
		{"long ML-KEM seed", "ML_KEM_1024", make([]byte, 65)},
	} {
		if _, err := ParsePrivate(tc.spec, tc.der); !errors.Is(err, ErrInvalidPrivateKey) {
			t.Errorf("%s: err = %v, want ErrInvalidPrivateKey", tc.name, err)
		}
	}
}

func TestGenerateDataKeyPair(t *testing.T) {
	for _, spec := range []string{
		"RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_NIST_EDWARDS25519",
		"ECC_SECG_P256K1", "SM2",
	} {
		if refusedInFIPS(t, spec) {
			if _, _, err := GenerateDataKeyPair(spec); !errors.Is(err, ErrNotFIPSApproved) {
				t.Errorf("GenerateDataKeyPair(%s) in FIPS 140-only mode = %v", spec, err)
			}
			continue
		}
		pubDER, privDER, err := GenerateDataKeyPair(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		// OpenSSL derives the same public key from the PKCS#8 private key.
		p := writeFile(t, t.TempDir(), "priv.der", privDER)
		if got := openssl(t, "pkey", "-inform", "DER", "-in", p, "-pubout", "-outform", "DER"); !bytes.Equal(got, pubDER) {
			t.Errorf("%s: openssl derives another public key from the private key", spec)
		}
		if _, err := ParsePrivate(spec, privDER); err != nil {
			t.Errorf("%s: ParsePrivate of the data key pair: %v", spec, err)
		}
		if spec == "ECC_SECG_P256K1" || spec == "SM2" {
			continue // crypto/x509 knows neither curve
		}
		pub, err := x509.ParsePKIXPublicKey(pubDER)
		if err != nil {
			t.Fatalf("%s: public key: %v", spec, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(privDER)
		if err != nil {
			t.Fatalf("%s: private key: %v", spec, err)
		}
		type privateKey interface{ Public() crypto.PublicKey }
		type publicKey interface{ Equal(crypto.PublicKey) bool }
		if !priv.(privateKey).Public().(publicKey).Equal(pub) {
			t.Errorf("%s: private and public keys do not match", spec)
		}
	}
}

// TestKeyNeverPrints checks that formatting a key shows no material.
func TestKeyNeverPrints(t *testing.T) {
	k := testKey(t, "ECC_NIST_P256")
	priv, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	scalar, err := k.ec.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		s := fmt.Sprintf(verb, k)
		if s != "keys.AsymmetricKey(ECC_NIST_P256)" {
			t.Errorf("Sprintf(%s, key) = %q", verb, s)
		}
	}
	s := fmt.Sprintf("%v %+v %#v %x", priv, priv, priv, priv)
	if strings.Contains(s, fmt.Sprintf("%x", scalar)) || strings.Contains(s, string(scalar)) {
		t.Error("formatting the marshaled private key shows the scalar")
	}
}
