package kmsdial

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/kms"
	"github.com/kmsd/kmsd/internal/xks"
	"github.com/kmsd/kmsd/internal/xks/xkstest"
)

func dial(t *testing.T, p *xkstest.Proxy, secret string) kms.XKSProxy {
	t.Helper()
	c, err := Dialer{TLS: p.TLS(), Timeout: 10 * time.Second, AllowPrivateAddresses: true}.Dial(kms.XKSProxyConfig{
		Endpoint: p.URL, Path: xkstest.Path, AccessKeyID: xkstest.AccessKeyID,
		SecretAccessKey: []byte(secret), Region: xkstest.Region,
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func failure(t *testing.T, err error) kms.Failure {
	t.Helper()
	var be *kms.BackendError
	if !errors.As(err, &be) {
		t.Fatalf("error %v (%T) is not a *kms.BackendError", err, err)
	}
	return be.Failure
}

var md = kms.XKSRequestMetadata{AWSPrincipalArn: "arn:aws:iam::111122223333:user/Alice",
	KMSKeyArn:    "arn:aws:kms:eu-west-3:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
	KMSOperation: "Encrypt", KMSRequestID: "r-1"}

// TestRoundTrip: kms's view of a proxy works end to end against the fake,
// and a connect without a request id still sends the required one.
func TestRoundTrip(t *testing.T) {
	p := xkstest.New(t)
	c := dial(t, p, xkstest.Secret)
	ctx := context.Background()
	if err := c.Health(ctx, kms.XKSRequestMetadata{KMSOperation: "ConnectCustomKeyStore"}); err != nil {
		t.Fatalf("Health: %v", err)
	}
	rm, _ := p.Requests()[0].Body["requestMetadata"].(map[string]any)
	if id, _ := rm["kmsRequestId"].(string); id == "" {
		t.Fatalf("health requestMetadata %v has no kmsRequestId", rm)
	}
	m, err := c.Metadata(ctx, xkstest.KeyID, md)
	if err != nil || m.KeySpec != "AES_256" || m.KeyStatus != "ENABLED" || len(m.KeyUsage) != 2 {
		t.Fatalf("Metadata = %+v, %v", m, err)
	}
	pt, aad := []byte("inner kmsd blob"), []byte("header||context")
	sealed, err := c.Encrypt(ctx, xkstest.KeyID, md, pt, aad)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	got, err := c.Decrypt(ctx, xkstest.KeyID, md, sealed, aad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
	_, err = c.Decrypt(ctx, xkstest.KeyID, md, sealed, []byte("other"))
	if f := failure(t, err); f != kms.FailInvalidCiphertext {
		t.Fatalf("wrong AAD: failure %d", f)
	}
	tampered := append([]byte{9}, sealed[1:]...)
	_, err = c.Decrypt(ctx, xkstest.KeyID, md, tampered, aad)
	if f := failure(t, err); f != kms.FailInvalidCiphertext {
		t.Fatalf("unknown sealed format: failure %d", f)
	}
}

// TestFailures: every proxy errorName and transport failure arrives in kms
// as the Failure kind kms maps to AWS's exception and connection code.
func TestFailures(t *testing.T) {
	p := xkstest.New(t)
	c := dial(t, p, xkstest.Secret)
	for name, want := range failures {
		t.Run(name, func(t *testing.T) {
			p.SetAnswer(func(string) (int, string, bool) { return 400, fmt.Sprintf(`{"errorName":%q}`, name), true })
			_, err := c.Encrypt(context.Background(), xkstest.KeyID, md, []byte("x"), nil)
			if f := failure(t, err); f != want {
				t.Fatalf("failure %d, want %d", f, want)
			}
		})
	}
	p.SetAnswer(func(string) (int, string, bool) { return 200, `{"plaintext":"eA=="}`, true })
	if _, err := c.Encrypt(context.Background(), xkstest.KeyID, md, []byte("x"), nil); failure(t, err) != kms.FailInvalidResponse {
		t.Fatalf("malformed answer: %v", err)
	}
	p.SetAnswer(nil)
	p.SetHealth("UNAVAILABLE")
	if err := c.Health(context.Background(), md); failure(t, err) != kms.FailUnreachable {
		t.Fatalf("unhealthy: %v", err)
	}

	if err := dial(t, p, "wrong-secret-wrong-secret-wrong-secret-wrong").Health(context.Background(), md); failure(t, err) != kms.FailCredentials {
		t.Fatalf("wrong secret: %v", err)
	}
	untrusted, err := Dialer{Timeout: 10 * time.Second, AllowPrivateAddresses: true}.Dial(kms.XKSProxyConfig{Endpoint: p.URL, Path: xkstest.Path,
		AccessKeyID: xkstest.AccessKeyID, SecretAccessKey: []byte(xkstest.Secret), Region: xkstest.Region})
	if err != nil {
		t.Fatal(err)
	}
	defer untrusted.Close()
	if err := untrusted.Health(context.Background(), md); failure(t, err) != kms.FailTLS {
		t.Fatalf("untrusted certificate: %v", err)
	}
	if _, err := (Dialer{}).Dial(kms.XKSProxyConfig{Endpoint: "http://" + p.Addr(), Path: xkstest.Path,
		AccessKeyID: "A", SecretAccessKey: []byte("s"), Region: "r"}); failure(t, err) != kms.FailInvalidConfiguration {
		t.Fatalf("http endpoint: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Health(ctx, md); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestSealOpen(t *testing.T) {
	for _, ct := range []*xks.Ciphertext{
		{Ciphertext: []byte("c"), IV: make([]byte, 12), AuthenticationTag: bytes.Repeat([]byte{7}, 16)},
		{Ciphertext: []byte("longer ciphertext"), IV: make([]byte, 16), AuthenticationTag: make([]byte, 16), CiphertextMetadata: []byte("key_version=1")},
	} {
		got, err := Open(Seal(ct))
		if err != nil || !bytes.Equal(got.Ciphertext, ct.Ciphertext) || !bytes.Equal(got.IV, ct.IV) ||
			!bytes.Equal(got.AuthenticationTag, ct.AuthenticationTag) || !bytes.Equal(got.CiphertextMetadata, ct.CiphertextMetadata) {
			t.Fatalf("Open(Seal(%+v)) = %+v, %v", ct, got, err)
		}
	}
}

// FuzzOpen: Open never panics, and what it accepts re-seals to the same bytes.
func FuzzOpen(f *testing.F) {
	f.Add(Seal(&xks.Ciphertext{Ciphertext: []byte("c"), IV: make([]byte, 12), AuthenticationTag: make([]byte, 16)}))
	f.Add([]byte{1, 16, 20})
	f.Fuzz(func(t *testing.T, b []byte) {
		ct, err := Open(b)
		if err != nil {
			return
		}
		if !bytes.Equal(Seal(ct), b) || len(ct.Ciphertext) == 0 {
			t.Fatalf("Open accepted %x as %+v", b, ct)
		}
	})
}
