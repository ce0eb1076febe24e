package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/fips140"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"filippo.io/mldsa"

	"github.com/kmsd/kmsd/internal/secret"
)

// rsaVerify checks the groups of an RSA signature file whose
// parameters are AWS's; scheme gives the SigningAlgorithm of a group,
// or "" to filter it.
func rsaVerify(r *wpRun, file *wpFile, scheme func(*wpGroup) string) {
	for i := range file.TestGroups {
		g := &file.TestGroups[i]
		alg := scheme(g)
		if alg == "" {
			r.filter(g)
			continue
		}
		key, err := x509.ParsePKCS1PublicKey(g.PublicKeyASN)
		if err != nil {
			r.t.Fatalf("%s: group %d public key: %v", r.file, i, err)
		}
		// In FIPS 140-only mode the module refuses public exponents
		// of 2^16 or less, and ParsePrivate refuses such keys (see
		// the RSA-PKCS1-sign vectors), so no KMS key has one there.
		if fips140.Enforced() && key.E <= 1<<16 {
			r.filter(g)
			continue
		}
		spec := rsaSpec(key.N.BitLen())
		if spec == "" || key.N.BitLen() != g.KeySize {
			r.t.Fatalf("%s: group %d has a %d-bit key", r.file, i, key.N.BitLen())
		}
		pub := publicKey{spec: spec, rsa: key}
		for j := range g.Tests {
			c := &g.Tests[j]
			r.expect(c, ErrInvalidSignature, func() error {
				return pub.verify(alg, MessageRaw, c.Msg, c.Sig)
			})
		}
	}
}

// AWS signs and verifies ML-DSA with the empty context string and
// takes no context from the caller; cases with another context are
// filtered.
func nonEmptyCtx(c *wpCase) bool { return c.Ctx != nil && len(*c.Ctx) != 0 }

func wycheproofECDSA(t *testing.T, dir string) {
	t.Parallel()
	for _, f := range []struct{ name, spec, alg, sha string }{
		{"ecdsa_secp256r1_sha256_test.json", "ECC_NIST_P256", "ECDSA_SHA_256", "SHA-256"},
		{"ecdsa_secp384r1_sha384_test.json", "ECC_NIST_P384", "ECDSA_SHA_384", "SHA-384"},
		{"ecdsa_secp521r1_sha512_test.json", "ECC_NIST_P521", "ECDSA_SHA_512", "SHA-512"},
		{"ecdsa_secp256k1_sha256_test.json", "ECC_SECG_P256K1", "ECDSA_SHA_256", "SHA-256"},
	} {
		wycheproof(t, dir, f.name, refusedSpec(f.spec), func(r *wpRun, file *wpFile) {
			for i := range file.TestGroups {
				g := &file.TestGroups[i]
				if g.SHA != f.sha {
					r.t.Fatalf("%s: group hash %s, want %s", f.name, g.SHA, f.sha)
				}
				pub := publicKey{spec: f.spec}
				var err error
				if f.spec == "ECC_SECG_P256K1" {
					pub.k1, err = parseSecp256k1PKIX(g.PublicKeyDER)
				} else {
					var p any
					if p, err = x509.ParsePKIXPublicKey(g.PublicKeyDER); err == nil {
						ec, ok := p.(*ecdsa.PublicKey)
						if !ok || ec.Curve != eccCurve(f.spec) {
							err = fmt.Errorf("a %T, not a key of %s", p, f.spec)
						}
						pub.ec = ec
					}
				}
				if err != nil {
					r.t.Fatalf("%s: group %d public key: %v", f.name, i, err)
				}
				for j := range g.Tests {
					c := &g.Tests[j]
					r.expect(c, ErrInvalidSignature, func() error {
						return pub.verify(f.alg, MessageRaw, c.Msg, c.Sig)
					})
				}
			}
		})
	}
}

func wycheproofEd25519(t *testing.T, dir string) {
	t.Parallel()
	wycheproof(t, dir, "ed25519_test.json", nil, func(r *wpRun, file *wpFile) {
		for i := range file.TestGroups {
			g := &file.TestGroups[i]
			p, err := x509.ParsePKIXPublicKey(g.PublicKeyDER)
			ed, ok := p.(ed25519.PublicKey)
			if err != nil || !ok {
				r.t.Fatalf("ed25519_test.json: group %d public key: %T %v", i, p, err)
			}
			pub := publicKey{spec: "ECC_NIST_EDWARDS25519", ed: ed}
			for j := range g.Tests {
				c := &g.Tests[j]
				r.expect(c, ErrInvalidSignature, func() error {
					return pub.verify("ED25519_SHA_512", MessageRaw, c.Msg, c.Sig)
				})
			}
		}
	})
}

func wycheproofRSAPKCS1(t *testing.T, dir string) {
	t.Parallel()
	for _, bits := range []int{2048, 3072, 4096} {
		for _, h := range []int{256, 384, 512} {
			name := fmt.Sprintf("rsa_signature_%d_sha%d_test.json", bits, h)
			wycheproof(t, dir, name, nil, func(r *wpRun, file *wpFile) {
				rsaVerify(r, file, func(g *wpGroup) string {
					if g.SHA != fmt.Sprintf("SHA-%d", h) {
						r.t.Fatalf("%s: group hash %s", name, g.SHA)
					}
					return fmt.Sprintf("RSASSA_PKCS1_V1_5_SHA_%d", h)
				})
			})
		}
	}
}

func wycheproofRSAPKCS1Sign(t *testing.T, dir string) {
	t.Parallel()
	// PKCS#1 v1.5 signatures are deterministic: kmsd's must be the
	// vector's, byte for byte.
	for _, bits := range []int{2048, 3072, 4096} {
		name := fmt.Sprintf("rsa_pkcs1_%d_sig_gen_test.json", bits)
		spec := rsaSpec(bits)
		wycheproof(t, dir, name, nil, func(r *wpRun, file *wpFile) {
			for i := range file.TestGroups {
				g := &file.TestGroups[i]
				// AWS's RSASSA_PKCS1_V1_5_* hash with SHA-256, -384
				// or -512; the SHA-1 and SHA-224 groups do not apply.
				n := hashSize(g.SHA)
				if n == 0 {
					r.filter(g)
					continue
				}
				alg := fmt.Sprintf("RSASSA_PKCS1_V1_5_SHA_%d", n*8)
				priv, err := x509.ParsePKCS8PrivateKey(g.PrivateKeyPKCS8)
				rsaPriv, ok := priv.(*rsa.PrivateKey)
				if err != nil || !ok || g.KeySize != bits {
					r.t.Fatalf("%s: group %d private key: %T %v", name, i, priv, err)
				}
				if fips140.Enforced() && rsaPriv.E <= 1<<16 {
					// The groups with e = 3 are "acceptable": in FIPS
					// 140-only mode kmsd must refuse the key itself.
					for j := range g.Tests {
						c := &g.Tests[j]
						r.expect(c, ErrNotFIPSApproved, func() error {
							_, err := ParsePrivate(spec, secret.Bytes(g.PrivateKeyPKCS8))
							if err == nil {
								return errors.New("ParsePrivate accepted a key with a small exponent")
							}
							return err
						})
					}
					continue
				}
				k, err := ParsePrivate(spec, secret.Bytes(g.PrivateKeyPKCS8))
				if err != nil {
					r.t.Fatalf("%s: group %d: ParsePrivate: %v", name, i, err)
				}
				for j := range g.Tests {
					c := &g.Tests[j]
					var sig []byte
					if r.expect(c, nil, func() (err error) {
						sig, err = k.Sign(alg, MessageRaw, c.Msg)
						return err
					}) {
						r.mismatch(c, "signature", sig, c.Sig)
					}
				}
			}
		})
	}
}

func wycheproofRSAPSS(t *testing.T, dir string) {
	t.Parallel()
	// AWS's RSASSA_PSS_SHA_* use SHA-256/384/512 with MGF1 over the
	// same hash and a salt as long as the hash, on 2048-, 3072- and
	// 4096-bit keys. These are the files with such groups; the other
	// rsa_pss_* files test only parameters no AWS key can be asked to
	// verify with: SHA-1, SHA-224, truncated SHA-512 or SHAKE, MGF1
	// over another hash, or a salt of 0 or 32 bytes with SHA-512.
	// The *_params files carry the parameters in an id-RSASSA-PSS
	// SPKI; the key is read from its PKCS#1 form, as for the others.
	for _, name := range []string{
		"rsa_pss_2048_sha256_mgf1_32_test.json",
		"rsa_pss_2048_sha256_mgf1_32_params_test.json",
		"rsa_pss_2048_sha384_mgf1_48_test.json",
		"rsa_pss_3072_sha256_mgf1_32_test.json",
		"rsa_pss_3072_sha256_mgf1_32_params_test.json",
		"rsa_pss_4096_sha256_mgf1_32_test.json",
		"rsa_pss_4096_sha384_mgf1_48_test.json",
		"rsa_pss_4096_sha512_mgf1_64_test.json",
		"rsa_pss_4096_sha512_mgf1_64_params_test.json",
		"rsa_pss_misc_test.json",
		"rsa_pss_misc_params_test.json",
	} {
		wycheproof(t, dir, name, nil, func(r *wpRun, file *wpFile) {
			rsaVerify(r, file, func(g *wpGroup) string {
				// rsa_pss_misc* combine every hash, MGF1 hash and
				// salt length; the groups with other parameters
				// than AWS's are filtered.
				n := hashSize(g.SHA)
				if n == 0 || g.MGF != "MGF1" || g.MGFSHA != g.SHA || g.SLen != n || rsaSpec(g.KeySize) == "" {
					return ""
				}
				return fmt.Sprintf("RSASSA_PSS_SHA_%d", n*8)
			})
		})
	}
}

func wycheproofMLDSA(t *testing.T, dir string) {
	t.Parallel()
	for _, f := range []struct {
		set  string
		spec string
	}{{"44", "ML_DSA_44"}, {"65", "ML_DSA_65"}, {"87", "ML_DSA_87"}} {
		params := *mldsaParams(f.spec)
		wycheproof(t, dir, "mldsa_"+f.set+"_verify_test.json", refusedSpec(f.spec), func(r *wpRun, file *wpFile) {
			for i := range file.TestGroups {
				g := &file.TestGroups[i]
				var pk wpHex
				if err := json.Unmarshal(g.PublicKey, &pk); err != nil {
					r.t.Fatalf("%s: group %d: %v", r.file, i, err)
				}
				p, err := mldsa.NewPublicKey(params, pk)
				pub := publicKey{spec: f.spec, mldsa: p}
				for j := range g.Tests {
					c := &g.Tests[j]
					if nonEmptyCtx(c) {
						r.filtered++
						continue
					}
					r.expect(c, ErrInvalidSignature, func() error {
						if err != nil {
							// A key kmsd cannot read verifies nothing.
							return fmt.Errorf("%w: public key: %v", ErrInvalidSignature, err)
						}
						return pub.verify("ML_DSA_SHAKE_256", MessageRaw, c.Msg, c.Sig)
					})
				}
			}
		})

		// The *_sign_noseed files give expanded private keys only;
		// kmsd stores and imports ML-DSA keys as 32-byte seeds, so
		// they do not apply.
		wycheproof(t, dir, "mldsa_"+f.set+"_sign_seed_test.json", refusedSpec(f.spec), func(r *wpRun, file *wpFile) {
			for i := range file.TestGroups {
				g := &file.TestGroups[i]
				var pk wpHex
				if err := json.Unmarshal(g.PublicKey, &pk); err != nil {
					r.t.Fatalf("%s: group %d: %v", r.file, i, err)
				}
				want, err := mldsa.NewPublicKey(params, pk)
				if err != nil {
					r.t.Fatalf("%s: group %d public key: %v", r.file, i, err)
				}
				vpub := publicKey{spec: f.spec, mldsa: want}
				k, kerr := ParsePrivate(f.spec, secret.Bytes(g.PrivateSeed))
				if kerr == nil {
					// What GetPublicKey returns holds the vector's key
					// (an SPKI of the same shape as ML-KEM's).
					if _, got := parseMLKEMSPKI(r.t, k.PublicKeyDER()); !bytes.Equal(got, pk) {
						r.t.Errorf("%s: group %d: the seed gives public key %x, want %x", r.file, i, got, []byte(pk))
					}
				}
				for j := range g.Tests {
					c := &g.Tests[j]
					if nonEmptyCtx(c) {
						r.filtered++
						continue
					}
					// kmsd signs hedged, so its signature differs from
					// the vector's deterministic one; both must verify.
					r.expect(c, ErrInvalidPrivateKey, func() error {
						if kerr != nil {
							return kerr
						}
						sig, err := k.Sign("ML_DSA_SHAKE_256", MessageRaw, c.Msg)
						if err != nil {
							return fmt.Errorf("Sign: %w", err)
						}
						if err := vpub.verify("ML_DSA_SHAKE_256", MessageRaw, c.Msg, sig); err != nil {
							return fmt.Errorf("kmsd's signature under the vector's key: %w", err)
						}
						if err := k.Verify("ML_DSA_SHAKE_256", MessageRaw, c.Msg, c.Sig); err != nil {
							return fmt.Errorf("the vector's signature under kmsd's key: %w", err)
						}
						return nil
					})
				}
			}
		})
	}
}
