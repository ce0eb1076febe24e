package keys

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kmsd/kmsd/internal/secret"
)

const testKeyID = "1234abcd-12ab-34cd-56ef-1234567890ab"

var testEC = map[string]string{"Department": "Finance", "Project": "Alpha"}

func mustEncrypt(t testing.TB, keyID string, mid MaterialID, material secret.Bytes, pt []byte, ec map[string]string) []byte {
	t.Helper()
	blob, err := EncryptBlob(keyID, mid, material, pt, ec)
	if err != nil {
		t.Fatalf("EncryptBlob: %v", err)
	}
	return blob
}

func requireInvalid(t *testing.T, what string, pt []byte, err error) {
	t.Helper()
	if err != ErrInvalidCiphertext || pt != nil {
		t.Fatalf("%s: DecryptBlob = %x, %v; want nil, ErrInvalidCiphertext", what, pt, err)
	}
}

func TestBlobRoundTrip(t *testing.T) {
	material, mid := GenerateSymmetric(), NewMaterialID()
	for _, keyID := range []string{testKeyID, "mrk-1234abcd12ab34cd56ef1234567890ab", "k", strings.Repeat("x", 255)} {
		for _, n := range []int{0, 1, 32, 4096} {
			pt := bytes.Repeat([]byte{0x5a}, n)
			blob := mustEncrypt(t, keyID, mid, material, pt, testEC)
			if len(blob) != n+BlobOverhead(len(keyID)) {
				t.Errorf("len(blob) = %d, want %d", len(blob), n+BlobOverhead(len(keyID)))
			}
			h, err := ParseBlobHeader(blob)
			if err != nil || h.KeyID != keyID || h.MaterialID != mid {
				t.Fatalf("ParseBlobHeader = %+v, %v", h, err)
			}
			got, err := DecryptBlob(blob, material, testEC)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("DecryptBlob(%d bytes, key id %d bytes) = %v", n, len(keyID), err)
			}
		}
	}
}

func TestBlobFitsAWSLimit(t *testing.T) {
	blob := mustEncrypt(t, testKeyID, NewMaterialID(), GenerateSymmetric(), make([]byte, 4096), testEC)
	if len(blob) > 6144 {
		t.Fatalf("4096-byte plaintext gives a %d-byte blob; AWS allows 6144", len(blob))
	}
	if BlobOverhead(len(testKeyID)) != 114 {
		t.Errorf("BlobOverhead(36) = %d, want 114", BlobOverhead(len(testKeyID)))
	}
	if 4096+BlobOverhead(255) > 6144 {
		t.Error("longest key id pushes a 4096-byte plaintext past 6144 bytes")
	}
}

func TestEncryptBlobRejectsBadInput(t *testing.T) {
	material, mid := GenerateSymmetric(), NewMaterialID()
	for _, keyID := range []string{"", strings.Repeat("x", 256), "key id", "key\x00", "kéy"} {
		if _, err := EncryptBlob(keyID, mid, material, []byte("x"), nil); err == nil {
			t.Errorf("EncryptBlob accepted key id %q", keyID)
		}
	}
	for _, m := range []secret.Bytes{nil, make(secret.Bytes, 16), make(secret.Bytes, 33)} {
		if _, err := EncryptBlob(testKeyID, mid, m, []byte("x"), nil); err == nil {
			t.Errorf("EncryptBlob accepted %d-byte material", len(m))
		}
	}
}

func TestEncryptionContextBinding(t *testing.T) {
	material := GenerateSymmetric()
	ec := map[string]string{"Department": "Finance", "Project": "Alpha", "Env": "prod"}
	blob := mustEncrypt(t, testKeyID, NewMaterialID(), material, []byte("secret"), ec)

	// Maps have no order; build the "reordered" one by inserting in reverse.
	reordered := map[string]string{}
	for _, k := range []string{"Project", "Env", "Department"} {
		reordered[k] = ec[k]
	}
	if pt, err := DecryptBlob(blob, material, reordered); err != nil || string(pt) != "secret" {
		t.Fatalf("reordered context: %v", err)
	}

	wrong := map[string]map[string]string{
		"missing context": nil,
		"empty context":   {},
		"missing pair":    {"Department": "Finance", "Project": "Alpha"},
		"extra pair":      {"Department": "Finance", "Project": "Alpha", "Env": "prod", "x": ""},
		"key case":        {"department": "Finance", "Project": "Alpha", "Env": "prod"},
		"value case":      {"Department": "finance", "Project": "Alpha", "Env": "prod"},
		"swapped values":  {"Department": "Alpha", "Project": "Finance", "Env": "prod"},
		"value moved":     {"Department": "FinanceAlpha", "Project": "", "Env": "prod"},
	}
	for name, ec := range wrong {
		pt, err := DecryptBlob(blob, material, ec)
		requireInvalid(t, name, pt, err)
	}

	// A blob made without context decrypts with an empty map, and not with one pair.
	bare := mustEncrypt(t, testKeyID, NewMaterialID(), material, []byte("bare"), nil)
	if pt, err := DecryptBlob(bare, material, map[string]string{}); err != nil || string(pt) != "bare" {
		t.Fatalf("empty map vs nil: %v", err)
	}
	empty := mustEncrypt(t, testKeyID, NewMaterialID(), material, []byte("bare"), map[string]string{})
	if pt, err := DecryptBlob(empty, material, nil); err != nil || string(pt) != "bare" {
		t.Fatalf("nil vs empty map: %v", err)
	}
	pt, err := DecryptBlob(bare, material, map[string]string{"": ""})
	requireInvalid(t, "pair added to empty context", pt, err)
}

func TestBlobTamperSweep(t *testing.T) {
	material := GenerateSymmetric()
	pt := []byte("attack at dawn, bring snacks")
	blob := mustEncrypt(t, testKeyID, NewMaterialID(), material, pt, testEC)
	if got, err := DecryptBlob(blob, material, testEC); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("untouched blob: %v", err)
	}
	for i := range len(blob) * 8 {
		b := bytes.Clone(blob)
		b[i/8] ^= 1 << (i % 8)
		got, err := DecryptBlob(b, material, testEC)
		requireInvalid(t, fmt.Sprintf("bit %d of byte %d flipped", i%8, i/8), got, err)
	}
	for n := range len(blob) {
		got, err := DecryptBlob(bytes.Clone(blob[:n]), material, testEC)
		requireInvalid(t, fmt.Sprintf("truncated to %d", n), got, err)
	}
	for n := 1; n <= 64; n++ {
		got, err := DecryptBlob(append(bytes.Clone(blob), make([]byte, n)...), material, testEC)
		requireInvalid(t, fmt.Sprintf("%d bytes appended", n), got, err)
	}
}

func TestBlobKeyBinding(t *testing.T) {
	a, b := GenerateSymmetric(), GenerateSymmetric()
	mid := NewMaterialID()
	blob := mustEncrypt(t, testKeyID, mid, a, []byte("for A only"), testEC)

	pt, err := DecryptBlob(blob, b, testEC)
	requireInvalid(t, "other material", pt, err)

	// Same material under another key id, as two keys with the same imported
	// bytes would have: the key id in the header is authenticated.
	other := "5678abcd-12ab-34cd-56ef-1234567890ab"
	moved := bytes.Clone(blob)
	copy(moved[2:], other)
	if h, err := ParseBlobHeader(moved); err != nil || h.KeyID != other {
		t.Fatalf("precondition: rewritten header does not parse: %v", err)
	}
	pt, err = DecryptBlob(moved, a, testEC)
	requireInvalid(t, "key id rewritten", pt, err)

	// Rewritten to a key id of another length.
	short := "mrk-1"
	re := append([]byte{1, byte(len(short))}, short...)
	re = append(re, blob[2+len(testKeyID):]...)
	pt, err = DecryptBlob(re, a, testEC)
	requireInvalid(t, "key id replaced with one of another length", pt, err)

	// Material id rewritten.
	re = bytes.Clone(blob)
	re[2+len(testKeyID)] ^= 0xff
	pt, err = DecryptBlob(re, a, testEC)
	requireInvalid(t, "material id rewritten", pt, err)

	// Same bytes, different key id at encryption: the ciphertexts are not interchangeable.
	blobB := mustEncrypt(t, other, mid, a, []byte("for A only"), testEC)
	spliced := append(bytes.Clone(blob[:len(blob)-len("for A only")-tagSize-nonceSize-saltSize]), blobB[len(blobB)-len("for A only")-tagSize-nonceSize-saltSize:]...)
	pt, err = DecryptBlob(spliced, a, testEC)
	requireInvalid(t, "body spliced from another key's blob", pt, err)
}

func TestParseBlobHeaderRejects(t *testing.T) {
	good := mustEncrypt(t, testKeyID, NewMaterialID(), GenerateSymmetric(), nil, nil)
	withID := func(id []byte) []byte {
		b := append([]byte{1, byte(len(id))}, id...)
		return append(b, make([]byte, BlobOverhead(0)-2)...)
	}
	if _, err := ParseBlobHeader(withID([]byte(testKeyID))); err != nil {
		t.Fatalf("precondition: minimal blob rejected: %v", err)
	}
	cases := map[string][]byte{
		"empty":                    nil,
		"version only":             {1},
		"version 0":                append([]byte{0}, good[1:]...),
		"version 2":                append([]byte{2}, good[1:]...),
		"zero-length key id":       withID(nil),
		"key id runs past the end": {1, 255, 'a', 'b'},
		"no room for the tag":      good[:len(good)-1],
		"space in key id":          withID([]byte("1234abcd 12ab")),
		"control byte in key id":   withID([]byte("1234abcd\n12ab")),
		"DEL in key id":            withID([]byte("1234abcd\x7f12ab")),
		"non-ASCII key id":         withID([]byte("clé")),
	}
	for name, b := range cases {
		if h, err := ParseBlobHeader(b); err != ErrInvalidCiphertext || h != (BlobHeader{}) {
			t.Errorf("%s: ParseBlobHeader = %+v, %v; want zero, ErrInvalidCiphertext", name, h, err)
		}
	}
}

func TestDecryptBlobWrongMaterialSize(t *testing.T) {
	blob := mustEncrypt(t, testKeyID, NewMaterialID(), GenerateSymmetric(), []byte("x"), nil)
	if _, err := DecryptBlob(blob, make(secret.Bytes, 16), nil); err == nil {
		t.Fatal("DecryptBlob accepted 16-byte material")
	}
}

// Every encryption draws a fresh salt and nonce, so even identical inputs
// never repeat a blob, a per-message key or a (key, nonce) pair.
func TestBlobsNeverRepeat(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	material, mid := GenerateSymmetric(), NewMaterialID()
	pt := []byte("the same plaintext every time..")
	hdr := 2 + len(testKeyID) + materialIDSize
	blobs := make(map[string]struct{}, n)
	salts := make(map[[saltSize]byte]struct{}, n)
	for range n {
		blob := mustEncrypt(t, testKeyID, mid, material, pt, testEC)
		blobs[string(blob)] = struct{}{}
		salts[[saltSize]byte(blob[hdr:])] = struct{}{}
	}
	if len(blobs) != n || len(salts) != n {
		t.Fatalf("%d encryptions gave %d distinct blobs and %d distinct salts", n, len(blobs), len(salts))
	}
}

func TestBlobConcurrent(t *testing.T) {
	material, mid := GenerateSymmetric(), NewMaterialID()
	var wg sync.WaitGroup
	var failed sync.Once
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				pt := []byte{byte(g), byte(i)}
				blob, err := EncryptBlob(testKeyID, mid, material, pt, testEC)
				if err == nil {
					var got []byte
					got, err = DecryptBlob(blob, material, testEC)
					if err == nil && !bytes.Equal(got, pt) {
						err = errors.New("plaintext changed")
					}
				}
				if err != nil {
					failed.Do(func() { t.Error(err) })
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkEncryptBlob(b *testing.B) {
	material, mid := GenerateSymmetric(), NewMaterialID()
	for _, size := range []int{32, 4096} {
		pt := make([]byte, size)
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := EncryptBlob(testKeyID, mid, material, pt, testEC); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecryptBlob(b *testing.B) {
	material, mid := GenerateSymmetric(), NewMaterialID()
	for _, size := range []int{32, 4096} {
		blob := mustEncrypt(b, testKeyID, mid, material, make([]byte, size), testEC)
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecryptBlob(blob, material, testEC); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
