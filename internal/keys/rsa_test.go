package keys

import (
	"bytes"
	"crypto/fips140"
	"crypto/rand"
	"errors"
	"testing"
)

func TestMaxPlaintext(t *testing.T) {
	for _, tc := range []struct {
		spec, alg string
		want      int
	}{
		{"RSA_2048", "RSAES_OAEP_SHA_1", 214},
		{"RSA_2048", "RSAES_OAEP_SHA_256", 190},
		{"RSA_3072", "RSAES_OAEP_SHA_1", 342},
		{"RSA_3072", "RSAES_OAEP_SHA_256", 318},
		{"RSA_4096", "RSAES_OAEP_SHA_1", 470},
		{"RSA_4096", "RSAES_OAEP_SHA_256", 446},
		{"RSA_2048", "SYMMETRIC_DEFAULT", 0},
		{"ECC_NIST_P256", "RSAES_OAEP_SHA_256", 0},
	} {
		if got := MaxPlaintext(tc.spec, tc.alg); got != tc.want {
			t.Errorf("MaxPlaintext(%s, %s) = %d, want %d", tc.spec, tc.alg, got, tc.want)
		}
	}
}

func oaepArgs(alg string) []string {
	md := "sha256"
	if alg == "RSAES_OAEP_SHA_1" {
		md = "sha1"
	}
	return []string{"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:" + md, "-pkeyopt", "rsa_mgf1_md:" + md}
}

func TestRSAOAEPInterop(t *testing.T) {
	for _, spec := range []string{"RSA_2048", "RSA_3072", "RSA_4096"} {
		k := testKey(t, spec)
		dir := t.TempDir()
		pub := writePEM(t, dir, "pub.pem", "PUBLIC KEY", k.PublicKeyDER())
		priv, err := k.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		privPath := writePEM(t, dir, "priv.pem", "PRIVATE KEY", priv)
		for _, alg := range []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"} {
			name := spec + "/" + alg
			if alg == "RSAES_OAEP_SHA_1" && fips140.Enforced() {
				// FIPS 140-3 forbids SHA-1 in OAEP: refused, before any work.
				if _, err := k.Encrypt(alg, []byte("x")); !errors.Is(err, ErrNotFIPSApproved) {
					t.Errorf("%s in FIPS 140-only mode: Encrypt = %v, want ErrNotFIPSApproved", name, err)
				}
				if _, err := k.Decrypt(alg, make([]byte, 256)); !errors.Is(err, ErrNotFIPSApproved) {
					t.Errorf("%s in FIPS 140-only mode: Decrypt = %v, want ErrNotFIPSApproved", name, err)
				}
				continue
			}
			max := MaxPlaintext(spec, alg)
			pt := make([]byte, max)
			_, _ = rand.Read(pt)

			// openssl encrypts, kmsd decrypts.
			ptPath := writeFile(t, dir, "pt.bin", pt)
			ct := openssl(t, append([]string{"pkeyutl", "-encrypt", "-pubin", "-inkey", pub, "-in", ptPath}, oaepArgs(alg)...)...)
			got, err := k.Decrypt(alg, ct)
			if err != nil || !bytes.Equal(got, pt) {
				t.Errorf("%s: Decrypt of openssl's ciphertext: %v", name, err)
			}

			// kmsd encrypts, openssl decrypts.
			ct, err = k.Encrypt(alg, pt)
			if err != nil {
				t.Fatalf("%s: Encrypt of %d bytes: %v", name, max, err)
			}
			ctPath := writeFile(t, dir, "ct.bin", ct)
			got = openssl(t, append([]string{"pkeyutl", "-decrypt", "-inkey", privPath, "-in", ctPath}, oaepArgs(alg)...)...)
			if !bytes.Equal(got, pt) {
				t.Errorf("%s: openssl does not decrypt kmsd's ciphertext", name)
			}

			if _, err := k.Encrypt(alg, make([]byte, max+1)); !errors.Is(err, ErrPlaintextTooLarge) {
				t.Errorf("%s: Encrypt of %d bytes = %v, want ErrPlaintextTooLarge", name, max+1, err)
			}
			if _, err := k.Encrypt(alg, nil); err != nil {
				t.Errorf("%s: Encrypt of an empty plaintext: %v", name, err)
			}
		}
	}
}

func TestRSADecryptFailuresAreOneError(t *testing.T) {
	k := testKey(t, "RSA_2048")
	ct, err := k.Encrypt("RSAES_OAEP_SHA_256", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), ct...)
	flipped[10] ^= 0x80
	other := testKey(t, "RSA_2048")
	for name, tc := range map[string]struct {
		k   *AsymmetricKey
		alg string
		ct  []byte
	}{
		"flipped bit": {k, "RSAES_OAEP_SHA_256", flipped},
		"truncated":   {k, "RSAES_OAEP_SHA_256", ct[:len(ct)-1]},
		"too long":    {k, "RSAES_OAEP_SHA_256", append(append([]byte(nil), ct...), 0)},
		"empty":       {k, "RSAES_OAEP_SHA_256", nil},
		"other key":   {other, "RSAES_OAEP_SHA_256", ct},
		"all ones":    {k, "RSAES_OAEP_SHA_256", bytes.Repeat([]byte{0xff}, len(ct))},
	} {
		pt, err := tc.k.Decrypt(tc.alg, tc.ct)
		if err != ErrInvalidCiphertext || pt != nil {
			t.Errorf("%s: Decrypt = %v, %v; want nil, ErrInvalidCiphertext", name, pt, err)
		}
	}
	// The wrong OAEP hash is one more invalid ciphertext, except in FIPS
	// 140-only mode, where SHA-1 is refused whatever the ciphertext.
	want := ErrInvalidCiphertext
	if fips140.Enforced() {
		want = ErrNotFIPSApproved
	}
	if _, err := k.Decrypt("RSAES_OAEP_SHA_1", ct); err != want {
		t.Errorf("wrong algorithm: Decrypt = %v, want %v", err, want)
	}
	if _, err := k.Decrypt("SYMMETRIC_DEFAULT", ct); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Errorf("Decrypt with SYMMETRIC_DEFAULT = %v, want ErrUnsupportedAlgorithm", err)
	}
	ec := testKey(t, "ECC_NIST_P256")
	if _, err := ec.Encrypt("RSAES_OAEP_SHA_256", []byte("x")); !errors.Is(err, ErrUnsupportedOperation) {
		t.Errorf("Encrypt with an ECC key = %v, want ErrUnsupportedOperation", err)
	}
	if _, err := ec.Decrypt("RSAES_OAEP_SHA_256", ct); !errors.Is(err, ErrUnsupportedOperation) {
		t.Errorf("Decrypt with an ECC key = %v, want ErrUnsupportedOperation", err)
	}
}
