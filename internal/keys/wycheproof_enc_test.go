package keys

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/kmsd/kmsd/internal/secret"
)

func wycheproofRSAOAEP(t *testing.T, dir string) {
	t.Parallel()
	for _, f := range []struct{ name, alg, sha string }{
		{"rsa_oaep_2048_sha256_mgf1sha256_test.json", "RSAES_OAEP_SHA_256", "SHA-256"},
		{"rsa_oaep_3072_sha256_mgf1sha256_test.json", "RSAES_OAEP_SHA_256", "SHA-256"},
		{"rsa_oaep_4096_sha256_mgf1sha256_test.json", "RSAES_OAEP_SHA_256", "SHA-256"},
		{"rsa_oaep_2048_sha1_mgf1sha1_test.json", "RSAES_OAEP_SHA_1", "SHA-1"},
	} {
		var refused func(*testing.T) bool
		if f.alg == "RSAES_OAEP_SHA_1" {
			refused = func(t *testing.T) bool {
				k := testKey(t, "RSA_2048")
				ct, err := k.Encrypt(f.alg, []byte("m"))
				if !errors.Is(err, ErrNotFIPSApproved) {
					t.Errorf("Encrypt(%s) in FIPS 140-only mode = %v, want ErrNotFIPSApproved", f.alg, err)
				}
				if _, err := k.Decrypt(f.alg, ct); !errors.Is(err, ErrNotFIPSApproved) {
					t.Errorf("Decrypt(%s) in FIPS 140-only mode = %v, want ErrNotFIPSApproved", f.alg, err)
				}
				return true
			}
		}
		wycheproof(t, dir, f.name, refused, func(r *wpRun, file *wpFile) {
			for i := range file.TestGroups {
				g := &file.TestGroups[i]
				if g.SHA != f.sha || g.MGF != "MGF1" || g.MGFSHA != f.sha {
					r.t.Fatalf("%s: group %d is OAEP %s with %s over %s", f.name, i, g.SHA, g.MGF, g.MGFSHA)
				}
				spec := rsaSpec(g.KeySize)
				k, err := ParsePrivate(spec, secret.Bytes(g.PrivateKeyPKCS8))
				if err != nil {
					r.t.Fatalf("%s: group %d: ParsePrivate(%q): %v", f.name, i, spec, err)
				}
				for j := range g.Tests {
					c := &g.Tests[j]
					// AWS uses the empty OAEP label and takes none
					// from the caller: a vector with another label
					// asks for a decryption no AWS call can request.
					if len(c.Label) != 0 {
						r.filtered++
						continue
					}
					var pt []byte
					if r.expect(c, ErrInvalidCiphertext, func() (err error) {
						pt, err = k.Decrypt(f.alg, c.Ct)
						return err
					}) {
						r.mismatch(c, "plaintext", pt, c.Msg)
					}
				}
			}
		})
	}
}

func wycheproofECDH(t *testing.T, dir string) {
	t.Parallel()
	for _, f := range []struct{ name, curve, spec string }{
		{"ecdh_secp256r1_test.json", "secp256r1", "ECC_NIST_P256"},
		{"ecdh_secp384r1_test.json", "secp384r1", "ECC_NIST_P384"},
		{"ecdh_secp521r1_test.json", "secp521r1", "ECC_NIST_P521"},
	} {
		wycheproof(t, dir, f.name, nil, func(r *wpRun, file *wpFile) {
			curve := eccCurve(f.spec)
			size := (curve.Params().BitSize + 7) / 8
			accepted, rejected := 0, 0 // acceptable cases
			// The cases share a few dozen private keys; each is
			// parsed once.
			keys := map[string]*AsymmetricKey{}
			key := func(c *wpCase) *AsymmetricKey {
				// The scalar is a signed big-endian integer: it
				// may carry a leading zero or be short.
				d := new(big.Int).SetBytes(c.Private)
				if k, ok := keys[string(d.Bytes())]; ok {
					return k
				}
				if d.BitLen() > 8*size {
					r.t.Fatalf("%s %s: %d-bit scalar", f.name, c, d.BitLen())
				}
				priv, err := ecdsa.ParseRawPrivateKey(curve, d.FillBytes(make([]byte, size)))
				if err != nil {
					r.t.Fatalf("%s %s: private scalar: %v", f.name, c, err)
				}
				der, err := x509.MarshalPKCS8PrivateKey(priv)
				if err != nil {
					r.t.Fatal(err)
				}
				k, err := ParsePrivate(f.spec, secret.Bytes(der))
				if err != nil {
					r.t.Fatalf("%s %s: ParsePrivate: %v", f.name, c, err)
				}
				keys[string(d.Bytes())] = k
				return k
			}
			for i := range file.TestGroups {
				g := &file.TestGroups[i]
				if g.Curve != f.curve || g.Encoding != "asn" {
					r.t.Fatalf("%s: group %d is %s with %s encoding", f.name, i, g.Curve, g.Encoding)
				}
				for j := range g.Tests {
					c := &g.Tests[j]
					k := key(c)
					var shared []byte
					ok := r.expect(c, ErrInvalidPublicKey, func() (err error) {
						shared, err = k.DeriveSharedSecret(c.Public)
						return err
					})
					if ok {
						r.mismatch(c, "shared secret", shared, c.Shared)
					}
					if c.Result == "acceptable" {
						if ok {
							accepted++
						} else {
							rejected++
						}
					}
				}
			}
			r.t.Logf("%s: %d acceptable cases accepted (with the right secret), %d rejected", f.name, accepted, rejected)
		})
	}
}

func wycheproofHMAC(t *testing.T, dir string) {
	t.Parallel()
	for _, bits := range []int{224, 256, 384, 512} {
		name := fmt.Sprintf("hmac_sha%d_test.json", bits)
		spec := fmt.Sprintf("HMAC_%d", bits)
		alg := fmt.Sprintf("HMAC_SHA_%d", bits)
		wycheproof(t, dir, name, nil, func(r *wpRun, file *wpFile) {
			for i := range file.TestGroups {
				g := &file.TestGroups[i]
				// AWS's GenerateMac returns the whole HMAC; groups
				// of truncated tags do not apply.
				if g.TagSize != bits {
					r.filter(g)
					continue
				}
				for j := range g.Tests {
					c := &g.Tests[j]
					// AWS takes HMAC key material from the generated
					// size up to the hash block size (CheckHMACKey);
					// a key outside that range cannot be a KMS key.
					if CheckHMACKey(spec, secret.Bytes(c.Key)) != nil {
						r.filtered++
						continue
					}
					r.expect(c, ErrInvalidMAC, func() error {
						mac, err := MAC(spec, alg, secret.Bytes(c.Key), c.Msg)
						if err != nil {
							return err
						}
						verr := VerifyMAC(spec, alg, secret.Bytes(c.Key), c.Msg, c.Tag)
						if hmac.Equal(mac, c.Tag) != (verr == nil) {
							return fmt.Errorf("MAC equals the tag: %v, but VerifyMAC: %v", hmac.Equal(mac, c.Tag), verr)
						}
						return verr
					})
				}
			}
		})
	}
}

func wycheproofMLKEM(t *testing.T, dir string) {
	t.Parallel()
	// Of the other ML-KEM files, *_encaps tests encapsulation with a
	// given randomness m to a given encapsulation key: kmsd draws m
	// from crypto/rand and encapsulates only to its own keys, which
	// it derives from their seeds. *_semi_expanded_decaps gives
	// expanded decapsulation keys, which kmsd never imports (it
	// takes ML-KEM private keys as 64-byte seeds). Neither applies.
	for _, f := range []struct{ set, spec string }{
		{"512", "ML_KEM_512"}, {"768", "ML_KEM_768"}, {"1024", "ML_KEM_1024"},
	} {
		param := "ML-KEM-" + f.set
		checkSet := func(r *wpRun, g *wpGroup) {
			if g.ParameterSet != param {
				r.t.Fatalf("%s: parameter set %s", r.file, g.ParameterSet)
			}
		}
		wycheproof(t, dir, "mlkem_"+f.set+"_test.json", refusedSpec(f.spec), func(r *wpRun, file *wpFile) {
			for i := range file.TestGroups {
				g := &file.TestGroups[i]
				checkSet(r, g)
				for j := range g.Tests {
					c := &g.Tests[j]
					// A seed of the wrong length is the invalid key;
					// with a good key, the ciphertext is at fault.
					wantErr := ErrInvalidCiphertext
					if len(c.Seed) != 64 {
						wantErr = ErrInvalidPrivateKey
					}
					var shared []byte
					if r.expect(c, wantErr, func() error {
						k, err := ParsePrivate(f.spec, secret.Bytes(c.Seed))
						if err != nil {
							return err
						}
						if c.Ek != nil {
							_, ek := parseMLKEMSPKI(r.t, k.PublicKeyDER())
							r.mismatch(c, "encapsulation key", ek, c.Ek)
						}
						shared, err = k.Decapsulate(c.C)
						return err
					}) {
						r.mismatch(c, "shared secret", shared, c.K)
					}
				}
			}
		})
		wycheproof(t, dir, "mlkem_"+f.set+"_keygen_seed_test.json", refusedSpec(f.spec), func(r *wpRun, file *wpFile) {
			for i := range file.TestGroups {
				g := &file.TestGroups[i]
				checkSet(r, g)
				for j := range g.Tests {
					c := &g.Tests[j]
					var k *AsymmetricKey
					if r.expect(c, ErrInvalidPrivateKey, func() (err error) {
						k, err = ParsePrivate(f.spec, secret.Bytes(c.Seed))
						return err
					}) {
						_, ek := parseMLKEMSPKI(r.t, k.PublicKeyDER())
						r.mismatch(c, "encapsulation key", ek, c.Ek)
					}
				}
			}
		})
	}
}
