package sigv4

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// capturedEncrypt sends one Encrypt call from a real kms.Client and returns
// the request as the server received it, with its body and the time it was
// signed.
func capturedEncrypt(tb testing.TB) (*http.Request, []byte, time.Time) {
	tb.Helper()
	var (
		got  *http.Request
		body []byte
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got, body = r.Clone(context.Background()), b
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, `{"CiphertextBlob":"AAECAw==","KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}`)
	}))
	defer srv.Close()
	c := kms.New(kms.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(testAKID, testSecretKey, ""),
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
	})
	_, err := c.Encrypt(context.Background(), &kms.EncryptInput{
		KeyId:             aws.String("alias/app"),
		Plaintext:         []byte("a plaintext of a realistic few dozen bytes"),
		EncryptionContext: map[string]string{"tenant": "acme", "purpose": "session"},
	})
	if err != nil {
		tb.Fatalf("Encrypt: %v", err)
	}
	if got == nil {
		tb.Fatal("no request captured")
	}
	at, err := time.Parse(amzDateLayout, got.Header.Get("X-Amz-Date"))
	if err != nil {
		tb.Fatal(err)
	}
	return got, body, at
}

// BenchmarkVerifySDKEncrypt verifies an Encrypt request exactly as
// aws-sdk-go-v2's kms.Client put it on the wire, with every header it signs
// (amz-sdk-invocation-id, amz-sdk-request, content-length, ...).
func BenchmarkVerifySDKEncrypt(b *testing.B) {
	req, body, at := capturedEncrypt(b)
	v := newVerifier(testStore(), at)
	ctx := context.Background()
	if _, err := v.Verify(ctx, req, body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, req, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyParallel(b *testing.B) {
	req, body, at := capturedEncrypt(b)
	v := newVerifier(testStore(), at)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, req, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// The SDK-captured request verifies repeatedly, from the cache and its MAC
// pool, and fails once tampered with.
func TestCapturedSDKRequestVerifies(t *testing.T) {
	req, body, at := capturedEncrypt(t)
	if len(req.Header["Amz-Sdk-Invocation-Id"]) == 0 {
		t.Fatalf("captured request lacks SDK headers: %v", req.Header)
	}
	v := newVerifier(testStore(), at)
	for range 3 {
		res, err := v.Verify(context.Background(), req, body)
		if err != nil {
			t.Fatal(err)
		}
		if res.AccessKeyID != testAKID || !res.SigningTime.Equal(at) {
			t.Fatalf("result %+v", res)
		}
	}
	body[len(body)-2] ^= 1
	_, err := v.Verify(context.Background(), req, body)
	wantErr(t, err, "InvalidSignatureException", "")
}

func TestVerifyAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count")
	}
	req, body, at := capturedEncrypt(t)
	v := newVerifier(testStore(), at)
	ctx := context.Background()
	n := testing.AllocsPerRun(100, func() {
		if _, err := v.Verify(ctx, req, body); err != nil {
			t.Fatal(err)
		}
	})
	if n > 6 {
		t.Fatalf("Verify allocates %v times per call, want at most 6", n)
	}
}

// parseAmzDate accepts exactly what time.Parse accepts for 16-byte values,
// and formatAmzDate writes what AppendFormat does.
func TestAmzDateMatchesTimePackage(t *testing.T) {
	for _, s := range []string{
		"20260101T001001Z", "20240229T235959Z", "20230229T000000Z", "21000229T000000Z",
		"20000229T000000Z", "00000101T000000Z", "99991231T235959Z", "20261301T000000Z",
		"20260100T000000Z", "20260431T000000Z", "20260101T240000Z", "20260101T006000Z",
		"20260101T000060Z", "20260101 001001Z", "20260101T001001z", "2026-101T001001Z",
		"+0260101T001001Z", "20260101T00100.Z", "20260101T1:1001Z", "2026010lT001001Z",
		"20260101T001001Z0", "20260101T001001", "",
	} {
		checkAmzDate(t, s)
	}
}

func FuzzParseAmzDate(f *testing.F) {
	f.Add("20260101T001001Z")
	f.Add("20240229T235959Z")
	f.Fuzz(checkAmzDate)
}

func checkAmzDate(t *testing.T, s string) {
	got, err := parseAmzDate(s)
	want, werr := time.Parse(amzDateLayout, s)
	if werr != nil || len(s) != len(amzDateLayout) {
		if err == nil {
			t.Fatalf("parseAmzDate(%q) = %v, want an error", s, got)
		}
		return
	}
	if err != nil || !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("parseAmzDate(%q) = %v, %v, want %v", s, got, err, want)
	}
	if f := formatAmzDate(got); string(f[:]) != s {
		t.Fatalf("formatAmzDate(%v) = %q, want %q", got, f, s)
	}
}

func TestFormatAmzDate(t *testing.T) {
	for _, tm := range []time.Time{
		testNow,
		time.Date(2026, 3, 4, 5, 6, 7, 999, time.FixedZone("x", -7*3600)),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		f := formatAmzDate(tm)
		if want := tm.UTC().Format(amzDateLayout); string(f[:]) != want {
			t.Fatalf("formatAmzDate(%v) = %q, want %q", tm, f, want)
		}
	}
}

func TestDecodeSignature(t *testing.T) {
	const hexSig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	sig, ok := decodeSignature(hexSig)
	if !ok || hex.EncodeToString(sig[:]) != hexSig {
		t.Fatalf("decodeSignature = %x, %v", sig, ok)
	}
	for _, bad := range []string{"", hexSig[:62], hexSig + "00", "5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31", hexSig[:63] + "g"} {
		if _, ok := decodeSignature(bad); ok {
			t.Fatalf("decodeSignature(%q) accepted", bad)
		}
	}
}
