package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/fips140"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"filippo.io/mldsa"

	"github.com/kmsd/kmsd/internal/secret"
)

// Project Wycheproof's test vectors (github.com/c2sp/wycheproof, pinned in
// go.mod and kept there by wycheproof_tools.go) run against the primitives
// here, through the same code paths as the KMS operations: publicKey.verify
// for Verify, and ParsePrivate followed by Decrypt, DeriveSharedSecret,
// Sign and Decapsulate, MAC and VerifyMAC. Every case of every file is run
// unless it is filtered for a stated reason; each file logs its counts.

const wycheproofModule = "github.com/c2sp/wycheproof"

// wycheproofVectors returns the directory of the JSON vectors, downloading
// the module into the module cache when it is missing. go test puts the
// go command of its own GOROOT first in PATH.
func wycheproofVectors(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to locate the Wycheproof vectors: %v", err)
	}
	out, err := exec.Command(goBin, "mod", "download", "-json", wycheproofModule).Output()
	var mod struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &mod); err != nil || jerr != nil || mod.Error != "" || mod.Dir == "" {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go mod download %s: %v %s %s", wycheproofModule, err, mod.Error, stderr)
	}
	dir := filepath.Join(mod.Dir, "testvectors_v1")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("Wycheproof vectors: %v", err)
	}
	return dir
}

// wpHex is a hex-encoded byte string of a vector.
type wpHex []byte

func (h *wpHex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

// wpFile holds the fields of every Wycheproof schema used here.
type wpFile struct {
	NumberOfTests int       `json:"numberOfTests"`
	TestGroups    []wpGroup `json:"testGroups"`
}

type wpGroup struct {
	KeySize         int             `json:"keySize"`
	TagSize         int             `json:"tagSize"`
	SHA             string          `json:"sha"`
	MGF             string          `json:"mgf"`
	MGFSHA          string          `json:"mgfSha"`
	SLen            int             `json:"sLen"`
	Curve           string          `json:"curve"`
	Encoding        string          `json:"encoding"`
	ParameterSet    string          `json:"parameterSet"`
	PublicKey       json.RawMessage `json:"publicKey"` // hex for ML-DSA, an object for RSA
	PublicKeyDER    wpHex           `json:"publicKeyDer"`
	PublicKeyASN    wpHex           `json:"publicKeyAsn"`
	PrivateKeyPKCS8 wpHex           `json:"privateKeyPkcs8"`
	PrivateSeed     wpHex           `json:"privateSeed"`
	Tests           []wpCase        `json:"tests"`
}

type wpCase struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"`
	Msg     wpHex    `json:"msg"`
	Sig     wpHex    `json:"sig"`
	Ct      wpHex    `json:"ct"`
	Label   wpHex    `json:"label"`
	Ctx     *wpHex   `json:"ctx"` // absent, or present and possibly empty
	Public  wpHex    `json:"public"`
	Private wpHex    `json:"private"`
	Shared  wpHex    `json:"shared"`
	Key     wpHex    `json:"key"`
	Tag     wpHex    `json:"tag"`
	Seed    wpHex    `json:"seed"`
	Ek      wpHex    `json:"ek"`
	C       wpHex    `json:"c"`
	K       wpHex    `json:"K"`
}

func (c *wpCase) String() string {
	return fmt.Sprintf("tcId %d (%s %v)", c.TcID, c.Comment, c.Flags)
}

// wpRun is one vector file's run: it counts the cases run and filtered,
// and reports every disagreement with the file name and tcId.
type wpRun struct {
	t             *testing.T
	file          string
	run, filtered int
}

// wycheproof runs check on the parsed file name as a parallel subtest. In
// FIPS 140-only mode a file of a spec or algorithm this package refuses
// there is not run: refused checks the refusal once instead and reports
// true.
func wycheproof(t *testing.T, dir, name string, refused func(*testing.T) bool, check func(*wpRun, *wpFile)) {
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		if fips140.Enforced() && refused != nil && refused(t) {
			t.Logf("%s: refused in FIPS 140-only mode, as it must be", name)
			return
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var f wpFile
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := &wpRun{t: t, file: name}
		check(r, &f)
		t.Logf("%s: %d cases run, %d filtered", name, r.run, r.filtered)
		if r.run+r.filtered != f.NumberOfTests {
			t.Errorf("%s: %d cases run and %d filtered, but the file has %d", name, r.run, r.filtered, f.NumberOfTests)
		}
		if r.run == 0 {
			t.Errorf("%s: no case run", name)
		}
	})
}

// refusedSpec is a refused function for a spec FIPSApproved rejects.
func refusedSpec(spec string) func(*testing.T) bool {
	return func(t *testing.T) bool { return refusedInFIPS(t, spec) }
}

// expect runs op for case c and checks its outcome against the vector:
// "valid" must succeed, "invalid" must fail with wantErr, "acceptable" may
// do either (a failure still with wantErr; with a nil wantErr, kmsd must
// not fail); a panic is always a failure.
// It reports whether op succeeded on a case that is not invalid, that is,
// whether the caller should compare op's outputs with the vector's.
func (r *wpRun) expect(c *wpCase, wantErr error, op func() error) bool {
	r.t.Helper()
	r.run++
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return op()
	}()
	switch {
	case c.Result != "valid" && c.Result != "invalid" && c.Result != "acceptable":
		r.t.Errorf("%s %s: unknown result %q", r.file, c, c.Result)
	case err == nil && c.Result == "invalid":
		r.t.Errorf("%s %s: invalid case accepted", r.file, c)
	case err != nil && c.Result == "valid":
		r.t.Errorf("%s %s: valid case rejected: %v", r.file, c, err)
	case err != nil && !errors.Is(err, wantErr):
		r.t.Errorf("%s %s: rejected with %v, want %v", r.file, c, err, wantErr)
	}
	return err == nil && c.Result != "invalid"
}

// mismatch reports an output of an accepted case that differs from the
// vector's.
func (r *wpRun) mismatch(c *wpCase, what string, got, want []byte) {
	r.t.Helper()
	if !bytes.Equal(got, want) {
		r.t.Errorf("%s %s: %s is %x, want %x", r.file, c, what, got, want)
	}
}

// filter counts the cases of a group that do not apply to kmsd.
func (r *wpRun) filter(g *wpGroup) { r.filtered += len(g.Tests) }

// hashSize is the output size of the SHA-2 hashes AWS pairs with RSA.
func hashSize(sha string) int {
	switch sha {
	case "SHA-256":
		return 32
	case "SHA-384":
		return 48
	case "SHA-512":
		return 64
	}
	return 0
}

// rsaSpec is the KeySpec of an RSA modulus size, "" for sizes AWS lacks.
func rsaSpec(bits int) string {
	for _, spec := range []string{"RSA_2048", "RSA_3072", "RSA_4096"} {
		if rsaBits(spec) == bits {
			return spec
		}
	}
	return ""
}

func TestWycheproof(t *testing.T) {
	dir := wycheproofVectors(t)

	t.Run("ECDSA", func(t *testing.T) {
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
	})

	t.Run("Ed25519", func(t *testing.T) {
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
	})

	// rsaVerify checks the groups of an RSA signature file whose
	// parameters are AWS's; scheme gives the SigningAlgorithm of a group,
	// or "" to filter it.
	rsaVerify := func(r *wpRun, file *wpFile, scheme func(*wpGroup) string) {
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

	t.Run("RSA-PKCS1", func(t *testing.T) {
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
	})

	t.Run("RSA-PKCS1-sign", func(t *testing.T) {
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
	})

	t.Run("RSA-PSS", func(t *testing.T) {
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
	})

	t.Run("RSA-OAEP", func(t *testing.T) {
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
	})

	t.Run("ECDH", func(t *testing.T) {
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
	})

	t.Run("HMAC", func(t *testing.T) {
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
	})

	// AWS signs and verifies ML-DSA with the empty context string and
	// takes no context from the caller; cases with another context are
	// filtered.
	nonEmptyCtx := func(c *wpCase) bool { return c.Ctx != nil && len(*c.Ctx) != 0 }

	t.Run("ML-DSA", func(t *testing.T) {
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
	})

	t.Run("ML-KEM", func(t *testing.T) {
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
	})
}
