package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/fips140"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"sort"
	"testing"

	"github.com/kmsd/kmsd/internal/secret"
)

// goldenVector is one entry of testdata/blob_v1.json. The blobs were made
// by an encoder written from the format comment alone (refEncrypt below) with
// fixed salt and nonce, and cross-checked with pyca/cryptography (OpenSSL).
// They must never change: every blob kmsd has issued must keep decrypting.
type goldenVector struct {
	Name       string            `json:"name"`
	Material   string            `json:"material"`
	KeyID      string            `json:"key_id"`
	MaterialID string            `json:"material_id"`
	Salt       string            `json:"salt"`
	Nonce      string            `json:"nonce"`
	Context    map[string]string `json:"context"`
	Plaintext  string            `json:"plaintext"`
	Blob       string            `json:"blob"`
}

func loadGolden(tb testing.TB) []goldenVector {
	tb.Helper()
	data, err := os.ReadFile("testdata/blob_v1.json")
	if err != nil {
		tb.Fatal(err)
	}
	var vs []goldenVector
	if err := json.Unmarshal(data, &vs); err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatal("no golden vectors")
	}
	return vs
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestGoldenDecrypt(t *testing.T) {
	for _, v := range loadGolden(t) {
		t.Run(v.Name, func(t *testing.T) {
			blob, material := unhex(t, v.Blob), secret.Bytes(unhex(t, v.Material))
			h, err := ParseBlobHeader(blob)
			if err != nil {
				t.Fatal(err)
			}
			if h.KeyID != v.KeyID || h.MaterialID.String() != v.MaterialID {
				t.Errorf("header = %s %s, want %s %s", h.KeyID, h.MaterialID, v.KeyID, v.MaterialID)
			}
			pt, err := DecryptBlob(blob, material, v.Context)
			if err != nil || !bytes.Equal(pt, unhex(t, v.Plaintext)) {
				t.Fatalf("DecryptBlob = %x, %v; want %s", pt, err, v.Plaintext)
			}
			wrong := map[string]string{"golden": "no"}
			for k, val := range v.Context {
				wrong[k] = val
			}
			pt, err = DecryptBlob(blob, material, wrong)
			requireInvalid(t, "golden with an extra pair", pt, err)
		})
	}
}

// refAAD and refEncrypt restate the format independently of blob.go.
func refAAD(header []byte, ec map[string]string) []byte {
	aad := bytes.Clone(header)
	ks := make([]string, 0, len(ec))
	for k := range ec {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	aad = binary.AppendUvarint(aad, uint64(len(ks)))
	for _, k := range ks {
		aad = binary.AppendUvarint(aad, uint64(len(k)))
		aad = append(aad, k...)
		aad = binary.AppendUvarint(aad, uint64(len(ec[k])))
		aad = append(aad, ec[k]...)
	}
	return aad
}

func refGCM(tb testing.TB, material, salt []byte) cipher.AEAD {
	tb.Helper()
	k, err := hkdf.Key(sha256.New, material, salt, "kmsd/blob/v1", 32)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		tb.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

func skipIfFIPSOnly(t *testing.T) {
	t.Helper()
	if fips140.Enforced() {
		t.Skip("the reference encoder picks its own GCM nonce, which FIPS 140-only mode forbids")
	}
}

func TestGoldenReferenceEncoder(t *testing.T) {
	skipIfFIPSOnly(t)
	for _, v := range loadGolden(t) {
		salt, nonce := unhex(t, v.Salt), unhex(t, v.Nonce)
		hdr := append([]byte{0x01, byte(len(v.KeyID))}, v.KeyID...)
		hdr = append(hdr, unhex(t, v.MaterialID)...)
		hdr = append(hdr, salt...)
		out := append(bytes.Clone(hdr), nonce...)
		out = refGCM(t, unhex(t, v.Material), salt).Seal(out, nonce, unhex(t, v.Plaintext), refAAD(hdr, v.Context))
		if got := hex.EncodeToString(out); got != v.Blob {
			t.Errorf("%s: reference encoder gives\n%s\nwant\n%s", v.Name, got, v.Blob)
		}
	}
}

// EncryptBlob draws its salt and nonce at random, so its output is checked
// by decrypting it with the reference construction.
func TestEncryptBlobMatchesReference(t *testing.T) {
	skipIfFIPSOnly(t)
	material, mid := GenerateSymmetric(), NewMaterialID()
	for _, keyID := range []string{testKeyID, "mrk-1234abcd12ab34cd56ef1234567890ab"} {
		pt := []byte("checked against the reference")
		blob := mustEncrypt(t, keyID, mid, material, pt, testEC)
		n := len(keyID)
		if blob[0] != 1 || int(blob[1]) != n || string(blob[2:2+n]) != keyID || !bytes.Equal(blob[2+n:34+n], mid[:]) {
			t.Fatalf("header layout differs from the documented format: %x", blob[:34+n])
		}
		salt, nonce := blob[34+n:50+n], blob[50+n:62+n]
		got, err := refGCM(t, material, salt).Open(nil, nonce, blob[62+n:], refAAD(blob[:50+n], testEC))
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("reference decryption of EncryptBlob output: %v", err)
		}
	}
}
