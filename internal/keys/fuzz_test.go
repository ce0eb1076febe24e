package keys

import (
	"bytes"
	"testing"

	"github.com/kmsd/kmsd/internal/secret"
)

// Seeds live in testdata/fuzz/<name>/ (the golden blobs and malformed
// variants); the golden blobs are also added here so a plain `go test` run
// covers them. Run longer locally, e.g.
//
//	go test -run '^$' -fuzz FuzzDecryptBlob -fuzztime 10m ./internal/keys
func addGoldenSeeds(f *testing.F) []goldenVector {
	vs := loadGolden(f)
	for _, v := range vs {
		f.Add(unhex(f, v.Blob))
	}
	return vs
}

func FuzzParseBlobHeader(f *testing.F) {
	addGoldenSeeds(f)
	f.Fuzz(func(t *testing.T, blob []byte) {
		h, err := ParseBlobHeader(blob)
		if err != nil {
			if err != ErrInvalidCiphertext {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		n := len(h.KeyID)
		if n < 1 || n > 255 || len(blob) < BlobOverhead(n) || blob[0] != 1 || int(blob[1]) != n {
			t.Fatalf("accepted malformed header: %x", blob)
		}
		if string(blob[2:2+n]) != h.KeyID || !bytes.Equal(blob[2+n:34+n], h.MaterialID[:]) {
			t.Fatalf("header fields do not match the bytes: %+v", h)
		}
		if !printable(h.KeyID) {
			t.Fatalf("accepted key id %q", h.KeyID)
		}
	})
}

func FuzzDecryptBlob(f *testing.F) {
	vs := addGoldenSeeds(f)
	f.Fuzz(func(t *testing.T, blob []byte) {
		for _, v := range vs {
			pt, err := DecryptBlob(blob, secret.Bytes(unhex(t, v.Material)), v.Context)
			if err != nil {
				if err != ErrInvalidCiphertext || pt != nil {
					t.Fatalf("DecryptBlob = %x, %v; want nil, ErrInvalidCiphertext", pt, err)
				}
				continue
			}
			// Only an untouched golden blob may authenticate.
			if !bytes.Equal(blob, unhex(t, v.Blob)) {
				t.Fatalf("forged blob decrypted under %q: %x", v.Name, blob)
			}
		}
	})
}
