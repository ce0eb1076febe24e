package api

import (
	"encoding/base64"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
)

// BenchmarkDecodeBody measures the request decoding of the hot path: an
// Encrypt of a data key with an encryption context, and its Decrypt.
func BenchmarkDecodeBody(b *testing.B) {
	blob := base64.StdEncoding.EncodeToString(make([]byte, 184))
	bodies := []struct {
		name string
		body []byte
		in   func() any
	}{
		{"Encrypt", []byte(`{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","Plaintext":"` +
			base64.StdEncoding.EncodeToString(make([]byte, 32)) +
			`","EncryptionContext":{"purpose":"test","tenant":"acme-corp"},"EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}`),
			func() any { return new(kmsapi.EncryptInput) }},
		{"Decrypt", []byte(`{"CiphertextBlob":"` + blob + `","EncryptionContext":{"purpose":"test","tenant":"acme-corp"}}`),
			func() any { return new(kmsapi.DecryptInput) }},
	}
	for _, bb := range bodies {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.body)))
			for b.Loop() {
				if err := decodeBody(bb.body, bb.in()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
