package xksproxy

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/kmsd/kmsd/internal/kmsapi"
	"github.com/kmsd/kmsd/internal/xks"
)

// TestKMSSideClientUsesTheProxy drives the proxy with kmsd's own client of
// the XKS Proxy API, which checks every answer against the specification
// (shapes, sizes, the CDIV it always asks for) as AWS KMS would.
func TestKMSSideClientUsesTheProxy(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	id := h.createKey(nil)
	disabled := h.createKey(nil)
	if _, err := h.svc.DisableKey(ctx, h.caller(), &kmsapi.DisableKeyInput{KeyId: disabled}); err != nil {
		t.Fatal(err)
	}
	client := func(secret string) *xks.Client {
		c, err := xks.New(xks.Config{Endpoint: h.srv.URL, Path: "/tenant-a/kms/xks/v1", AccessKeyID: testAKID, Secret: secret, Region: testRegion, AllowHTTP: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	c := client(testSecret)
	md := xks.RequestMetadata{
		AWSPrincipalArn: "arn:aws:iam::123456789012:role/app", KMSKeyArn: "arn:aws:kms:us-east-1:123456789012:key/k",
		KMSOperation: "Encrypt", KMSRequestID: "interop-1",
	}
	if _, err := c.Health(ctx, md); err != nil {
		t.Fatalf("health: %v", err)
	}
	km, err := c.Metadata(ctx, id, md)
	if err != nil || km.KeySpec != "AES_256" || km.KeyStatus != "ENABLED" {
		t.Fatalf("metadata: %+v, %v", km, err)
	}
	pt, aad := []byte("a 32-byte data key, say........"), []byte("kms ciphertext header")
	ct, err := c.Encrypt(ctx, id, md, pt, aad)
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	got, err := c.Decrypt(ctx, id, md, ct, aad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("decrypt: %q, %v", got, err)
	}
	for what, tc := range map[string]struct {
		call func() error
		name string
	}{
		"disabled":     {func() error { _, err := c.Encrypt(ctx, disabled, md, pt, nil); return err }, "InvalidStateException"},
		"wrong aad":    {func() error { _, err := c.Decrypt(ctx, id, md, ct, []byte("other")); return err }, "InvalidCiphertextException"},
		"wrong secret": {func() error { _, err := client(testSecret2).Health(ctx, md); return err }, "AuthenticationFailedException"},
	} {
		var xe *xks.Error
		if err := tc.call(); !errors.As(err, &xe) || xe.Kind != xks.KindProxy || xe.Name != tc.name {
			t.Errorf("%s: %v, want the proxy's %s", what, err, tc.name)
		}
	}
}
