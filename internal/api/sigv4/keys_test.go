package sigv4

import (
	"context"
	"crypto/fips140"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kmsd/kmsd/internal/kmserr"
	"github.com/kmsd/kmsd/internal/secret"
)

// TestSigningKeyDerivation checks the key derivation against AWS's published
// example (secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215,
// us-east-1, iam).
func TestSigningKeyDerivation(t *testing.T) {
	got := deriveSigningKey(secret.Bytes("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), "20120215", "us-east-1", "iam")
	const want = "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
	if hex.EncodeToString(got[:]) != want {
		t.Fatalf("signing key = %x, want %s", got, want)
	}
}

func TestKeyCacheIsBounded(t *testing.T) {
	var c keyCache
	sec := secret.Bytes("secret-access-key")
	first := c.signingKey(sec, "20260101", "us-east-1", "kms")
	for i := range maxCachedKeys + 10 {
		c.signingKey(sec, "20260101", fmt.Sprintf("r%d", i), "kms")
	}
	n := 0
	c.m.Range(func(_, _ any) bool { n++; return true })
	if n > maxCachedKeys {
		t.Fatalf("cache holds %d entries, bound is %d", n, maxCachedKeys)
	}
	if again := c.signingKey(sec, "20260101", "us-east-1", "kms"); again != first {
		t.Fatal("cached key differs from derived key")
	}
	if c.signingKey(secret.Bytes("other-secret-access-key"), "20260101", "us-east-1", "kms") == first {
		t.Fatal("different secrets share a cached key")
	}
}

// TestShortSecret: a secret under MinFIPSSecretLen bytes verifies, except
// in FIPS 140-only mode, where it is refused with an internal error rather
// than the panic of the standard library's HMAC.
func TestShortSecret(t *testing.T) {
	store := credStore{"AKIDSHORTSECRET": {Key: secret.Bytes("test")}}
	v := newVerifier(store, testNow)
	req := kmsRequest(t, "Encrypt", encryptBody)
	// The client's signer would refuse the short key too; sign outside the
	// mode's enforcement, as a client in another process would.
	fips140.WithoutEnforcement(func() {
		sign(t, req, encryptBody, aws.Credentials{AccessKeyID: "AKIDSHORTSECRET", SecretAccessKey: "test"}, "kms", testRegion, testNow)
	})
	_, err := v.Verify(context.Background(), req, []byte(encryptBody))
	if fips140.Enforced() {
		wantErr(t, err, kmserr.Internal, "")
	} else if err != nil {
		t.Fatalf("short secret: %v", err)
	}
}

// TestConcurrentVerify verifies requests from 8 goroutines at once. The
// requests are signed first, since the signing helpers may call t.Fatal,
// which only the test's own goroutine may do.
func TestConcurrentVerify(t *testing.T) {
	v := newVerifier(testStore(), testNow)
	const workers, perWorker = 8, 50
	var reqs [workers][perWorker]*http.Request
	for g := range workers {
		for i := range perWorker {
			op := "Encrypt"
			if (g+i)%2 == 0 {
				op = "ListKeys"
			}
			reqs[g][i] = kmsRequest(t, op, encryptBody)
			sign(t, reqs[g][i], encryptBody, longTermCreds(), "kms", testRegion, testNow.Add(-time.Duration(i)*time.Second))
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			<-start
			for i, req := range reqs[g] {
				if _, err := v.Verify(context.Background(), req, []byte(encryptBody)); err != nil {
					t.Errorf("Verify of request %d/%d: %v", g, i, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
}

func TestSecretNeverPrinted(t *testing.T) {
	v := newVerifier(testStore(), testNow)
	_, _ = v.Verify(context.Background(), signedEncrypt(t, longTermCreds()), []byte(encryptBody))
	s := testStore()[testAKID]
	for _, out := range []string{fmt.Sprintf("%+v %#v", s, s), fmt.Sprint(s)} {
		if strings.Contains(out, testSecretKey) {
			t.Fatalf("secret printed: %s", out)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	v := newVerifier(testStore(), testNow)
	req := kmsRequest(b, "Encrypt", encryptBody)
	sign(b, req, encryptBody, longTermCreds(), "kms", testRegion, testNow)
	body := []byte(encryptBody)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, req, body); err != nil {
			b.Fatal(err)
		}
	}
}
