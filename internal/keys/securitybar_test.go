package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// gcmFile is the schema of Wycheproof's aes_gcm_test.json.
type gcmFile struct {
	NumberOfTests int `json:"numberOfTests"`
	TestGroups    []struct {
		KeySize int `json:"keySize"`
		IVSize  int `json:"ivSize"`
		TagSize int `json:"tagSize"`
		Tests   []struct {
			wpCase
			IV  wpHex `json:"iv"`
			AAD wpHex `json:"aad"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// TestWycheproofAESGCM completes check 18 of the security bar with the
// AES-GCM vectors, opened the way a ciphertext blob is: AES-256 under
// cipher.NewGCMWithRandomNonce, the 12-byte nonce in front of ciphertext
// and tag, the additional data beside. Groups with other key, nonce or tag
// sizes are filtered: no kmsd format uses them.
func TestWycheproofAESGCM(t *testing.T) {
	dir := wycheproofVectors(t)
	data, err := os.ReadFile(filepath.Join(dir, "aes_gcm_test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f gcmFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	r := &wpRun{t: t, file: "aes_gcm_test.json"}
	for _, g := range f.TestGroups {
		if g.KeySize != 8*SymmetricKeySize || g.IVSize != 8*nonceSize || g.TagSize != 8*tagSize {
			r.filtered += len(g.Tests)
			continue
		}
		for i := range g.Tests {
			c := &g.Tests[i]
			var pt []byte
			if r.expect(&c.wpCase, ErrInvalidCiphertext, func() error {
				b, err := aes.NewCipher(c.Key)
				if err != nil {
					return err
				}
				aead, err := cipher.NewGCMWithRandomNonce(b)
				if err != nil {
					return err
				}
				sealed := slices.Concat([]byte(c.IV), c.Ct, c.Tag)
				if pt, err = aead.Open(nil, nil, sealed, c.AAD); err != nil {
					return errors.Join(ErrInvalidCiphertext, err)
				}
				return nil
			}) {
				r.mismatch(&c.wpCase, "plaintext", pt, c.Msg)
			}
		}
	}
	t.Logf("aes_gcm_test.json: %d cases run, %d filtered", r.run, r.filtered)
	if r.run+r.filtered != f.NumberOfTests || r.run < 60 {
		t.Fatalf("%d cases run and %d filtered of %d", r.run, r.filtered, f.NumberOfTests)
	}
}
