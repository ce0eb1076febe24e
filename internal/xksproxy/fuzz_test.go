package xksproxy

import (
	"strings"
	"testing"
)

// FuzzRoute: any path routes to an operation or to the specification's
// path or validation error, and a routed key id is always in its alphabet.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"/p/kms/xks/v1/health", "/p/kms/xks/v1/keys/abc/encrypt", "/p/kms/xks/v1/keys/a%2Fb/decrypt",
		"/p/kms/xks/v1/keys//metadata", "/p/kms/xks/v1/keys/x/health", "/p/kms/xks/v1/", "/kms/xks/v1/health"} {
		f.Add(s)
	}
	h := &Handler{base: "/p/kms/xks/v1/"}
	f.Fuzz(func(t *testing.T, path string) {
		op, id, err := h.route(path)
		switch {
		case err == nil && op.run == nil:
			t.Fatalf("%q routed to no operation", path)
		case err == nil && op.event != "XksGetHealthStatus" && !validExternalKeyID(id):
			t.Fatalf("%q routed with key id %q", path, id)
		case err != nil && err.name != errInvalidURIPath && err.name != errValidation:
			t.Fatalf("%q: %v", path, err)
		case err == nil && !strings.HasPrefix(path, h.base):
			t.Fatalf("%q routed outside the base", path)
		}
	})
}

// FuzzDecodeRequest: a body either decodes with requestMetadata or is a
// ValidationException, and the Base64 members never panic.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"requestMetadata":{"kmsRequestId":"1","kmsOperation":"x"},"plaintext":"SGVsbG8=","encryptionAlgorithm":"AES_GCM"}`))
	f.Add([]byte(`{"requestMetadata":null}`))
	f.Add([]byte(`{"requestMetadata":{"awsPrincipalArn":5},"ciphertext":"!!"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeRequest(body)
		if err != nil {
			if err.name != errValidation {
				t.Fatalf("%q: %v", body, err)
			}
			return
		}
		_ = checkMetadata(req.Metadata, []string{"awsPrincipalArn", "kmsKeyArn", "kmsOperation", "kmsRequestId"})
		for _, v := range []*string{req.Plaintext, req.Ciphertext, req.AAD, req.IV, req.Tag, req.CipherMeta} {
			if b, e := b64("member", v, false, 64); e == nil && len(b) > 64 {
				t.Fatalf("decoded %d bytes past the limit", len(b))
			}
		}
	})
}
