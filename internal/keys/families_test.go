package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"

	circl44 "github.com/cloudflare/circl/sign/mldsa/mldsa44"
	circl65 "github.com/cloudflare/circl/sign/mldsa/mldsa65"
	circl87 "github.com/cloudflare/circl/sign/mldsa/mldsa87"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secp256k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"
)

// parseSecp256k1PKIX reads an RFC 5480 SubjectPublicKeyInfo of the curve.
func parseSecp256k1PKIX(der []byte) (*secp256k1.PublicKey, error) {
	var s ecSPKI
	if rest, err := asn1.Unmarshal(der, &s); err != nil || len(rest) != 0 {
		return nil, ErrInvalidPublicKey
	}
	if !s.Algorithm.Algorithm.Equal(oidECPublicKey) || !s.Algorithm.Curve.Equal(oidSecp256k1) || s.PublicKey.BitLength%8 != 0 {
		return nil, ErrInvalidPublicKey
	}
	pub, err := secp256k1.ParsePubKey(s.PublicKey.Bytes)
	if err != nil {
		return nil, ErrInvalidPublicKey
	}
	return pub, nil
}

// secp256k1Order is the group order n of secp256k1 (SEC 2, §2.4.1).
var secp256k1Order, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)

// TestSecp256k1Interop: kmsd's signatures verify with openssl from the SPKI
// alone, and openssl's signatures (low or high S) verify in kmsd.
func TestSecp256k1Interop(t *testing.T) {
	if refusedInFIPS(t, "ECC_SECG_P256K1") {
		return
	}
	k := testKey(t, "ECC_SECG_P256K1")
	dir := t.TempDir()
	pub := writePEM(t, dir, "pub.pem", "PUBLIC KEY", k.PublicKeyDER())
	msg := []byte("transfer 1 BTC to bc1q...")
	msgFile := writeFile(t, dir, "msg", msg)

	sig, err := k.Sign("ECDSA_SHA_256", MessageRaw, msg)
	if err != nil {
		t.Fatal(err)
	}
	sigFile := writeFile(t, dir, "sig", sig)
	if out := openssl(t, "dgst", "-sha256", "-verify", pub, "-signature", sigFile, msgFile); !bytes.Contains(out, []byte("Verified OK")) {
		t.Fatalf("openssl: %s", out)
	}
	// DIGEST gives the same kind of signature over the same hash.
	d := sha256.Sum256(msg)
	sig, err = k.Sign("ECDSA_SHA_256", MessageDigest, d[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Verify("ECDSA_SHA_256", MessageRaw, msg, sig); err != nil {
		t.Fatalf("DIGEST signature does not verify as RAW: %v", err)
	}

	// openssl signs with the private key kmsd exported.
	priv, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	privFile := writePEM(t, dir, "priv.pem", "PRIVATE KEY", priv)
	for range 4 { // openssl does not normalize S; some runs give a high S
		osig := openssl(t, "dgst", "-sha256", "-sign", privFile, msgFile)
		if err := k.Verify("ECDSA_SHA_256", MessageRaw, msg, osig); err != nil {
			t.Fatalf("openssl's signature does not verify: %v", err)
		}
	}
	// A high-S twin of a valid signature is valid ECDSA too.
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &rs); err != nil {
		t.Fatal(err)
	}
	rs.S.Sub(secp256k1Order, rs.S)
	high, _ := asn1.Marshal(rs)
	if err := k.Verify("ECDSA_SHA_256", MessageRaw, msg, high); err != nil {
		t.Errorf("high-S signature rejected: %v", err)
	}
	// Tampering fails.
	bad := append([]byte(nil), sig...)
	bad[len(bad)-1] ^= 1
	if err := k.Verify("ECDSA_SHA_256", MessageRaw, msg, bad); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("tampered signature: %v", err)
	}
	// ECDSA_SHA_384 belongs to P-384.
	if _, err := k.Sign("ECDSA_SHA_384", MessageRaw, msg); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Errorf("ECDSA_SHA_384 on secp256k1: %v", err)
	}
}

func TestSecp256k1RejectsBadKeys(t *testing.T) {
	if refusedInFIPS(t, "ECC_SECG_P256K1") {
		return
	}
	k := testKey(t, "ECC_SECG_P256K1")
	good, _ := k.MarshalPrivate()
	n := secp256k1Order.FillBytes(make([]byte, 32))
	for name, scalar := range map[string][]byte{
		"zero":        make([]byte, 32),
		"group order": n,
		"short":       make([]byte, 31),
	} {
		inner, _ := asn1.Marshal(ecPrivateKey{Version: 1, PrivateKey: scalar})
		der, _ := asn1.Marshal(pkcs8{Algorithm: ecAlgorithm{oidECPublicKey, oidSecp256k1}, PrivateKey: inner})
		if _, err := ParsePrivate("ECC_SECG_P256K1", der); !errors.Is(err, ErrInvalidPrivateKey) {
			t.Errorf("%s scalar: %v", name, err)
		}
	}
	p256 := readPEM(t, "testdata/asymmetric/ecc_p384.pem")
	if _, err := ParsePrivate("ECC_SECG_P256K1", p256); !errors.Is(err, ErrInvalidPrivateKey) {
		t.Errorf("P-384 key as secp256k1: %v", err)
	}
	if _, err := ParsePrivate("ECC_NIST_P256", good); !errors.Is(err, ErrInvalidPrivateKey) {
		t.Errorf("secp256k1 key as P-256: %v", err)
	}
	// The decred module reads kmsd's SPKI and agrees with its signatures.
	pub, err := parseSecp256k1PKIX(k.PublicKeyDER())
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("m"))
	sig, _ := k.Sign("ECDSA_SHA_256", MessageDigest, h[:])
	parsed, err := secp256k1ecdsa.ParseDERSignature(sig)
	if err != nil || !parsed.Verify(h[:], pub) {
		t.Errorf("decred does not verify kmsd's signature: %v", err)
	}
}

// mldsaMu computes FIPS 204's mu for a pure signature with an empty
// context: SHAKE256(SHAKE256(pk, 64) || 0 || 0 || M, 64).
func mldsaMu(pk, msg []byte) []byte {
	tr := sha3.SumSHAKE256(pk, 64)
	h := sha3.NewSHAKE256()
	h.Write(tr)
	h.Write([]byte{0, 0})
	h.Write(msg)
	mu := make([]byte, 64)
	h.Read(mu)
	return mu
}

// circlVerify checks an ML-DSA signature with Cloudflare's implementation,
// independent of the one kmsd signs with.
func circlVerify(t *testing.T, spec string, pk, msg, sig []byte) bool {
	t.Helper()
	switch spec {
	case "ML_DSA_44":
		var p circl44.PublicKey
		if err := p.UnmarshalBinary(pk); err != nil {
			t.Fatal(err)
		}
		return circl44.Verify(&p, msg, nil, sig)
	case "ML_DSA_65":
		var p circl65.PublicKey
		if err := p.UnmarshalBinary(pk); err != nil {
			t.Fatal(err)
		}
		return circl65.Verify(&p, msg, nil, sig)
	case "ML_DSA_87":
		var p circl87.PublicKey
		if err := p.UnmarshalBinary(pk); err != nil {
			t.Fatal(err)
		}
		return circl87.Verify(&p, msg, nil, sig)
	}
	t.Fatalf("no ML-DSA spec %s", spec)
	return false
}

func TestMLDSA(t *testing.T) {
	for _, tc := range []struct {
		spec           string
		spki, sigBytes int
	}{
		{"ML_DSA_44", 1334, 2420}, // the sizes AWS returns
		{"ML_DSA_65", 1974, 3309},
		{"ML_DSA_87", 2614, 4627},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			if refusedInFIPS(t, tc.spec) {
				return
			}
			k := testKey(t, tc.spec)
			der := k.PublicKeyDER()
			if len(der) != tc.spki {
				t.Errorf("SPKI is %d bytes, want %d", len(der), tc.spki)
			}
			var s spki
			if _, err := asn1.Unmarshal(der, &s); err != nil {
				t.Fatal(err)
			}
			pk := s.PublicKey.Bytes
			msg := []byte("release v1.2.3 sha256:...")

			sig, err := k.Sign("ML_DSA_SHAKE_256", MessageRaw, msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(sig) != tc.sigBytes {
				t.Errorf("signature is %d bytes, want %d", len(sig), tc.sigBytes)
			}
			if !circlVerify(t, tc.spec, pk, msg, sig) {
				t.Error("circl does not verify kmsd's RAW signature")
			}
			mu := mldsaMu(pk, msg)
			if err := k.Verify("ML_DSA_SHAKE_256", MessageExternalMu, mu, sig); err != nil {
				t.Errorf("RAW signature does not verify from its mu: %v", err)
			}

			// A signature over an external mu is a signature over the message.
			sig, err = k.Sign("ML_DSA_SHAKE_256", MessageExternalMu, mu)
			if err != nil {
				t.Fatal(err)
			}
			if !circlVerify(t, tc.spec, pk, msg, sig) {
				t.Error("circl does not verify kmsd's EXTERNAL_MU signature over the message")
			}
			if err := k.Verify("ML_DSA_SHAKE_256", MessageRaw, msg, sig); err != nil {
				t.Errorf("EXTERNAL_MU signature does not verify as RAW: %v", err)
			}
			for name, check := range map[string]error{
				"other message": k.Verify("ML_DSA_SHAKE_256", MessageRaw, []byte("other"), sig),
				"other mu":      k.Verify("ML_DSA_SHAKE_256", MessageExternalMu, mldsaMu(pk, []byte("other")), sig),
				"truncated":     k.Verify("ML_DSA_SHAKE_256", MessageRaw, msg, sig[:len(sig)-1]),
			} {
				if !errors.Is(check, ErrInvalidSignature) {
					t.Errorf("%s: %v", name, check)
				}
			}
			if _, err := k.Sign("ML_DSA_SHAKE_256", MessageDigest, make([]byte, 64)); !errors.Is(err, ErrMessageType) {
				t.Errorf("DIGEST: %v, want ErrMessageType", err)
			}
			if _, err := k.Sign("ML_DSA_SHAKE_256", MessageExternalMu, make([]byte, 32)); !errors.Is(err, ErrDigestLength) {
				t.Errorf("32-byte mu: %v, want ErrDigestLength", err)
			}
			if _, err := k.Sign("ECDSA_SHA_256", MessageRaw, msg); !errors.Is(err, ErrUnsupportedAlgorithm) {
				t.Errorf("ECDSA_SHA_256: %v", err)
			}
		})
	}
	// EXTERNAL_MU belongs to ML-DSA only (and P-256 to every mode).
	p256 := testKey(t, "ECC_NIST_P256")
	if _, err := p256.Sign("ECDSA_SHA_256", MessageExternalMu, make([]byte, 64)); !errors.Is(err, ErrMessageType) {
		t.Errorf("EXTERNAL_MU with ECDSA: %v", err)
	}
}

func TestSM2(t *testing.T) {
	if refusedInFIPS(t, "SM2") {
		return
	}
	k := testKey(t, "SM2")
	dir := t.TempDir()
	pubFile := writePEM(t, dir, "pub.pem", "PUBLIC KEY", k.PublicKeyDER())
	priv, _ := k.MarshalPrivate()
	privFile := writePEM(t, dir, "priv.pem", "PRIVATE KEY", priv)
	msg := []byte("SM2 message")
	msgFile := writeFile(t, dir, "msg", msg)

	t.Run("SM2DSA", func(t *testing.T) {
		sig, err := k.Sign("SM2DSA", MessageRaw, msg)
		if err != nil {
			t.Fatal(err)
		}
		sigFile := writeFile(t, dir, "sig", sig)
		out := openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", pubFile, "-rawin", "-in", msgFile,
			"-digest", "sm3", "-sigfile", sigFile, "-pkeyopt", "distid:1234567812345678")
		if !bytes.Contains(out, []byte("Signature Verified Successfully")) {
			t.Fatalf("openssl: %s", out)
		}
		osig := openssl(t, "pkeyutl", "-sign", "-inkey", privFile, "-rawin", "-in", msgFile,
			"-digest", "sm3", "-pkeyopt", "distid:1234567812345678")
		if err := k.Verify("SM2DSA", MessageRaw, msg, osig); err != nil {
			t.Fatalf("openssl's SM2 signature: %v", err)
		}
		// DIGEST is e = SM3(Z_A || M), as AWS's offline guide computes it.
		pub, _ := smx509.ParsePKIXPublicKey(k.PublicKeyDER())
		za, _ := sm2.CalculateZA(pub.(*ecdsa.PublicKey), []byte("1234567812345678"))
		h := sm3.New()
		h.Write(za)
		h.Write(msg)
		e := h.Sum(nil)
		if err := k.Verify("SM2DSA", MessageDigest, e, osig); err != nil {
			t.Errorf("DIGEST verify of openssl's signature: %v", err)
		}
		if _, err := k.Sign("SM2DSA", MessageDigest, e[:31]); !errors.Is(err, ErrDigestLength) {
			t.Errorf("31-byte digest: %v", err)
		}
		if err := k.Verify("SM2DSA", MessageRaw, []byte("other"), sig); !errors.Is(err, ErrInvalidSignature) {
			t.Errorf("other message: %v", err)
		}
	})
	t.Run("SM2PKE", func(t *testing.T) {
		pt := bytes.Repeat([]byte{'p'}, 1024)
		ct, err := k.Encrypt("SM2PKE", pt)
		if err != nil {
			t.Fatal(err)
		}
		ctFile := writeFile(t, dir, "ct", ct)
		if got := openssl(t, "pkeyutl", "-decrypt", "-inkey", privFile, "-in", ctFile); !bytes.Equal(got, pt) {
			t.Error("openssl does not decrypt kmsd's SM2PKE ciphertext")
		}
		oct := openssl(t, "pkeyutl", "-encrypt", "-pubin", "-inkey", pubFile, "-in", msgFile)
		if got, err := k.Decrypt("SM2PKE", oct); err != nil || !bytes.Equal(got, msg) {
			t.Errorf("openssl's SM2 ciphertext: %v", err)
		}
		if _, err := k.Encrypt("SM2PKE", append(pt, 'x')); !errors.Is(err, ErrPlaintextTooLarge) {
			t.Errorf("1025 bytes: %v", err)
		}
		if _, err := k.Encrypt("RSAES_OAEP_SHA_256", msg); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Errorf("OAEP with SM2: %v", err)
		}
		oct[len(oct)-1] ^= 1
		if _, err := k.Decrypt("SM2PKE", oct); !errors.Is(err, ErrInvalidCiphertext) {
			t.Errorf("tampered ciphertext: %v", err)
		}
	})
	t.Run("ECDH", func(t *testing.T) {
		peer, err := sm2.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		peerDER, _ := smx509.MarshalPKIXPublicKey(&peer.PublicKey)
		got, err := k.DeriveSharedSecret(peerDER)
		if err != nil {
			t.Fatal(err)
		}
		// The peer computes the same secret from kmsd's public key.
		peerECDH, _ := peer.ECDH()
		kpub, _ := parseSM2PKIX(k.PublicKeyDER())
		kECDH, _ := sm2.PublicKeyToECDH(kpub)
		want, err := peerECDH.ECDH(kECDH)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("shared secrets differ (%v)", err)
		}
		p256 := testKey(t, "ECC_NIST_P256")
		if _, err := k.DeriveSharedSecret(p256.PublicKeyDER()); !errors.Is(err, ErrInvalidPublicKey) {
			t.Errorf("P-256 peer: %v", err)
		}
	})
}

func TestMLKEM512(t *testing.T) {
	if refusedInFIPS(t, "ML_KEM_512") {
		return
	}
	k := testKey(t, "ML_KEM_512")
	oid, ek := parseMLKEMSPKI(t, k.PublicKeyDER())
	if !oid.Equal(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 1}) || len(ek) != 800 {
		t.Fatalf("SPKI: oid %v, %d-byte key", oid, len(ek))
	}
	shared, ct, err := k.Encapsulate()
	if err != nil || len(ct) != 768 || len(shared) != 32 {
		t.Fatalf("Encapsulate: %d-byte ciphertext, %d-byte secret, %v", len(ct), len(shared), err)
	}
	got, err := k.Decapsulate(ct)
	if err != nil || !bytes.Equal(got, shared) {
		t.Fatalf("Decapsulate: %v", err)
	}
	if _, err := k.Decapsulate(ct[1:]); !errors.Is(err, ErrInvalidCiphertext) {
		t.Errorf("short ciphertext: %v", err)
	}
	ct[0] ^= 1 // implicit rejection: a secret, but another one
	if got, err := k.Decapsulate(ct); err != nil || bytes.Equal(got, shared) {
		t.Errorf("tampered ciphertext: %v", err)
	}
}
